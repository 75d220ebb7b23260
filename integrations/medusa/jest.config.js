const { loadEnv } = require("@medusajs/framework/utils")
loadEnv("test", process.cwd())

// As in Medusa's testing docs: SWC with decorators, node environment, and a
// setup file that clears MikroORM's metadata between suites. `.medusa/` is
// not ignored: the test app loads the built plugin from `.medusa/server`.
module.exports = {
  transform: {
    "^.+\\.[jt]s$": [
      "@swc/jest",
      { jsc: { parser: { syntax: "typescript", decorators: true } } },
    ],
  },
  testEnvironment: "node",
  moduleFileExtensions: ["js", "ts", "json"],
  modulePathIgnorePatterns: ["dist/", "<rootDir>/node_modules/"],
  setupFiles: ["./integration-tests/setup.js"],
  testMatch:
    process.env.TEST_TYPE === "unit"
      ? ["<rootDir>/unit-tests/**/*.spec.[jt]s"]
      : process.env.TEST_TYPE === "integration:http"
        ? ["<rootDir>/integration-tests/http/**/*.spec.[jt]s"]
        : [
            "<rootDir>/unit-tests/**/*.spec.[jt]s",
            "<rootDir>/integration-tests/http/**/*.spec.[jt]s",
          ],
}
