// Which manifest permission each ctx method needs. Methods absent here need none.
export const METHOD_PERMISSIONS: Readonly<Record<string, string>> = {
  "db.query": "db.read",
  "db.getById": "db.read",
  "db.insert": "db.write",
  "db.update": "db.write",
  "db.delete": "db.write",
  "http.fetch": "outbound_http",
  "http.get": "outbound_http",
  "http.post": "outbound_http",
  "files.list": "files.read",
  "files.read": "files.read",
  "files.upload": "files.write",
  "files.delete": "files.write",
  "llm.run": "llm.use",
  "email.send": "send_email",
};
