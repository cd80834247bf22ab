/** One `route(path, {methods, auth, rawBody}, fn)` call; methods are upper-case, auth user|admin|public. */
export interface RegisteredRoute {
  path: string;
  methods: string[];
  auth: string;
  /** The handler gets `req.rawBody`, the body as sent (absent: false). */
  rawBody?: boolean;
}

/** What a plugin's code registered through the SDK when its entry module was evaluated. */
export interface Registered {
  /** Event types passed to `hook(type, fn)`, once per call. */
  hooks: string[];
  routes: RegisteredRoute[];
  /** Names passed to `job(name, fn)`. */
  jobs: string[];
  /** Lifecycle handlers present, e.g. "install", "upgrade", "enable", "disable", "uninstall". */
  lifecycle: string[];
  /** Whether a `health(fn)` handler was registered. */
  health: boolean;
  /** Webhook transform files and the functions each exports (absent before webhooks existed). */
  transforms?: Record<string, string[]>;
}
