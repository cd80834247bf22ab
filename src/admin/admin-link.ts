/** The admin UI's sign-in link: the token rides in the fragment, which browsers never send to a server. */
export function adminLink(base: string, token: string): string {
  return `${base}/admin/#token=${token}`;
}
