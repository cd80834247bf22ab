/**
 * Errors a ctx call raises inside the plugin. Their `name` and `message` cross the isolate
 * boundary (the class does not), so plugin code can test `err.name === "PermissionDenied"`.
 */
export class CapabilityError extends Error {
  constructor(
    message: string,
    readonly code: string,
    name = "CapabilityError",
  ) {
    super(message);
    this.name = name;
  }
}

export class PermissionDenied extends CapabilityError {
  constructor(method: string, permission: string) {
    super(`ctx.${method} needs the "${permission}" permission; add it to "permissions" in plugin.json`, "permission_denied", "PermissionDenied");
  }
}

export class InvalidArgument extends CapabilityError {
  constructor(method: string, message: string) {
    super(`ctx.${method}: ${message}`, "invalid_argument", "TypeError");
  }
}
