import { createHash } from "node:crypto"

export type CloudEvent = {
  specversion: "1.0"
  id: string
  source: string
  type: string
  time: string
  datacontenttype: "application/json"
  data: Record<string, unknown>
}

/** A secret that may take part in an event id, but only through its hash. */
export type Secret = { secret: string }

export function sha256Hex(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex")
}

/**
 * The event id: a SHA-256 over the event name and what identifies this
 * occurrence. Medusa's bus gives events no id, and may run a subscriber twice
 * for one occurrence; both runs must publish the same id so that Herald, which
 * acts once per id, sends one email. Secrets (tokens) enter only hashed, so
 * the id reveals nothing about them.
 */
export function eventId(name: string, parts: Array<string | Secret>): string {
  const material = parts.map((p) => (typeof p === "string" ? p : `sha256:${sha256Hex(p.secret)}`))
  return sha256Hex(JSON.stringify([name, ...material]))
}

export function cloudEvent(
  source: string,
  type: string,
  id: string,
  data: Record<string, unknown>,
  time: Date = new Date()
): CloudEvent {
  return {
    specversion: "1.0",
    id,
    source,
    type,
    time: time.toISOString(),
    datacontenttype: "application/json",
    data,
  }
}
