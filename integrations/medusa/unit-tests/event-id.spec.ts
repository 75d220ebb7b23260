import { cloudEvent, eventId } from "../src/lib/cloud-event"
import { jwtExpiry } from "../src/lib/events"

// A JWT as Medusa signs reset tokens: header.payload.signature, with `exp`.
function jwt(payload: Record<string, unknown>): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url")
  return `${part({ alg: "HS256", typ: "JWT" })}.${part(payload)}.c2lnbmF0dXJl`
}

describe("eventId", () => {
  it("is the same for the same occurrence, so a subscriber run twice publishes one id", () => {
    const token = jwt({ id: "invite_1", exp: 1 })
    expect(eventId("invite.created", ["invite_1", { secret: token }])).toBe(
      eventId("invite.created", ["invite_1", { secret: token }])
    )
  })

  it("differs by event name, entity and token", () => {
    const a = eventId("invite.created", ["invite_1", { secret: "token-one-aaaaaaaa" }])
    expect(eventId("invite.resent", ["invite_1", { secret: "token-one-aaaaaaaa" }])).not.toBe(a)
    expect(eventId("invite.created", ["invite_2", { secret: "token-one-aaaaaaaa" }])).not.toBe(a)
    expect(eventId("invite.created", ["invite_1", { secret: "token-two-bbbbbbbb" }])).not.toBe(a)
  })

  it("does not run parts together: [a, bc] and [ab, c] differ", () => {
    expect(eventId("user.updated", ["a", "bc"])).not.toBe(eventId("user.updated", ["ab", "c"]))
  })

  it("holds no trace of the token", () => {
    const token = jwt({ entity_id: "ada@example.com", exp: 2_000_000_000 })
    const id = eventId("auth.password_reset", ["ada@example.com", "user", { secret: token }])
    expect(id).toMatch(/^[0-9a-f]{64}$/)
    for (const piece of token.split(".")) {
      expect(id).not.toContain(piece)
    }
  })
})

describe("cloudEvent", () => {
  it("is a structured CloudEvents 1.0 JSON event", () => {
    const e = cloudEvent("medusa", "user.updated", "abc", { id: "user_1" }, new Date("2030-01-02T03:04:05Z"))
    expect(e).toEqual({
      specversion: "1.0",
      id: "abc",
      source: "medusa",
      type: "user.updated",
      time: "2030-01-02T03:04:05.000Z",
      datacontenttype: "application/json",
      data: { id: "user_1" },
    })
  })
})

describe("jwtExpiry", () => {
  it("reads the exp claim as an RFC 3339 time", () => {
    expect(jwtExpiry(jwt({ exp: 1_900_000_000 }))).toBe("2030-03-17T17:46:40.000Z")
  })

  it("gives nothing for a token that is not a JWT or has no exp", () => {
    expect(jwtExpiry("not-a-jwt")).toBeUndefined()
    expect(jwtExpiry(jwt({ sub: "x" }))).toBeUndefined()
  })
})
