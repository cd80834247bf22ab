// The plugin author's test kit: run a plugin folder in a real isolate against in-memory fakes.
export { createTestContext, TestContext, type TestContextOptions, type FakeHttpResponse, type FakeHttpRequest, type FakeLlm } from "./test-context.ts";
export { loadPlugin, type LoadedPlugin, type RouteCall } from "./load-plugin.ts";
