import path from "node:path"
import {
  DEFAULT_AMQP_URL,
  DEFAULT_CONFIRM_TIMEOUT_MS,
  optionsFromConfig,
  resolveOptions,
} from "../src/lib/options"

describe("resolveOptions", () => {
  it("defaults to Herald's own defaults", () => {
    expect(resolveOptions(undefined, {})).toEqual({
      amqpUrl: DEFAULT_AMQP_URL,
      exchange: "events",
      source: "medusa",
      confirmTimeoutMs: DEFAULT_CONFIRM_TIMEOUT_MS,
    })
    expect(DEFAULT_AMQP_URL).toBe("amqp://guest:guest@127.0.0.1:5672/%2f")
  })

  it("takes the environment over the defaults, HERALD_AMQP_URL over AMQP_URL", () => {
    const env = {
      AMQP_URL: "amqp://plain",
      HERALD_AMQP_URL: "amqp://herald",
      HERALD_EXCHANGE: "herald-events",
      HERALD_SOURCE: "shop-1",
    }
    expect(resolveOptions({}, env)).toMatchObject({
      amqpUrl: "amqp://herald",
      exchange: "herald-events",
      source: "shop-1",
    })
    expect(resolveOptions({}, { AMQP_URL: "amqp://plain" }).amqpUrl).toBe("amqp://plain")
  })

  it("takes the plugin options over the environment", () => {
    const env = { HERALD_AMQP_URL: "amqp://env", HERALD_EXCHANGE: "env-x", HERALD_SOURCE: "env-s" }
    expect(
      resolveOptions({ amqpUrl: "amqp://opt", exchange: "opt-x", source: "opt-s", confirmTimeoutMs: 500 }, env)
    ).toEqual({ amqpUrl: "amqp://opt", exchange: "opt-x", source: "opt-s", confirmTimeoutMs: 500 })
  })
})

describe("optionsFromConfig", () => {
  it("finds the plugin's entry by package name or by path", () => {
    const options = { exchange: "x" }
    expect(optionsFromConfig(["other", { resolve: "medusa-plugin-herald", options }])).toBe(options)
    expect(optionsFromConfig([{ resolve: path.resolve(__dirname, ".."), options }])).toBe(options)
    expect(optionsFromConfig([{ resolve: "@medusajs/draft-order", options: { a: 1 } }])).toBeUndefined()
    expect(optionsFromConfig(undefined)).toBeUndefined()
  })
})
