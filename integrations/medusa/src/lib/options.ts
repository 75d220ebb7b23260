import { readFileSync } from "node:fs"
import { isAbsolute, join } from "node:path"

/**
 * Where the plugin publishes, resolved once per event from the plugin's
 * options, then the environment, then Herald's own defaults.
 */
export type HeraldPluginOptions = {
  /** RabbitMQ URL. Env: HERALD_AMQP_URL, then AMQP_URL. */
  amqpUrl?: string
  /** Herald's topic exchange. Env: HERALD_EXCHANGE. */
  exchange?: string
  /** CloudEvents `source` attribute. Env: HERALD_SOURCE. */
  source?: string
  /** How long to wait for the broker's confirm before failing, in ms. */
  confirmTimeoutMs?: number
}

/** This package's name, as a store lists it in `plugins`. */
export const PACKAGE_NAME = "medusa-plugin-herald"

type PluginEntry = string | { resolve?: string; options?: Record<string, unknown> }

function packageNameAt(dir: string): string | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name
  } catch {
    return undefined
  }
}

/**
 * The options the store gave this plugin in `medusa-config.ts`. Medusa
 * 2.21 loads plugin subscribers without their options (`pluginOptions` is
 * undefined), so they are read from the config module, where the plugin is
 * listed by package name or by path.
 */
export function optionsFromConfig(plugins: PluginEntry[] | undefined): Record<string, unknown> | undefined {
  for (const entry of plugins ?? []) {
    if (typeof entry === "string" || !entry.resolve) {
      continue
    }
    const r = entry.resolve
    if (r === PACKAGE_NAME || (isAbsolute(r) && packageNameAt(r) === PACKAGE_NAME)) {
      return entry.options ?? {}
    }
  }
  return undefined
}

export type ResolvedOptions = Required<HeraldPluginOptions>

export const DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2f"
export const DEFAULT_EXCHANGE = "events"
export const DEFAULT_SOURCE = "medusa"
export const DEFAULT_CONFIRM_TIMEOUT_MS = 10_000

function pick(...values: unknown[]): string | undefined {
  for (const v of values) {
    if (typeof v === "string" && v.trim() !== "") {
      return v.trim()
    }
  }
  return undefined
}

export function resolveOptions(
  options: Record<string, unknown> | undefined,
  env: NodeJS.ProcessEnv = process.env
): ResolvedOptions {
  const o = options ?? {}
  const timeout = Number(o.confirmTimeoutMs)
  return {
    amqpUrl: pick(o.amqpUrl, env.HERALD_AMQP_URL, env.AMQP_URL) ?? DEFAULT_AMQP_URL,
    exchange: pick(o.exchange, env.HERALD_EXCHANGE) ?? DEFAULT_EXCHANGE,
    source: pick(o.source, env.HERALD_SOURCE) ?? DEFAULT_SOURCE,
    confirmTimeoutMs:
      Number.isFinite(timeout) && timeout > 0 ? timeout : DEFAULT_CONFIRM_TIMEOUT_MS,
  }
}
