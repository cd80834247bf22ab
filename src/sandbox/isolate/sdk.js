// The `@sbh/sdk` module plugin code imports. It only re-exports what the runtime defined.
const sdk = globalThis.__sbh_sdk;
export const hook = sdk.hook;
export const route = sdk.route;
export const job = sdk.job;
export const json = sdk.json;
export const HttpError = sdk.HttpError;
export const PermissionDenied = sdk.PermissionDenied;
export const health = sdk.health;
export const onInstall = sdk.onInstall;
export const onUpgrade = sdk.onUpgrade;
export const onEnable = sdk.onEnable;
export const onDisable = sdk.onDisable;
export const onUninstall = sdk.onUninstall;
export default sdk;
