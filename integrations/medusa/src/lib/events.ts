import type { MedusaContainer } from "@medusajs/framework/types"
import { ContainerRegistrationKeys } from "@medusajs/framework/utils"
import { jwtDecode } from "jwt-decode"
import type { Secret } from "./cloud-event"

/** The Medusa events the plugin forwards, each under its own name. */
export const HERALD_EVENTS = [
  "invite.created",
  "invite.resent",
  "invite.accepted",
  "invite.deleted",
  "user.created",
  "user.updated",
  "user.deleted",
  "auth.password_reset",
] as const

export type HeraldEventName = (typeof HERALD_EVENTS)[number]

/** What to publish for one occurrence: Herald's `data`, and what identifies the occurrence. */
export type Outgoing = { data: Record<string, unknown>; idParts: Array<string | Secret> }

type Query = {
  graph(config: {
    entity: string
    fields: string[]
    filters: Record<string, unknown>
    withDeleted?: boolean
  }): Promise<{ data: Record<string, any>[] }>
}

async function one(
  container: MedusaContainer,
  entity: string,
  id: string,
  fields: string[],
  withDeleted = false
): Promise<Record<string, any> | undefined> {
  const query = container.resolve<Query>(ContainerRegistrationKeys.QUERY)
  const { data } = await query.graph({ entity, fields, filters: { id }, withDeleted })
  return data[0]
}

function iso(value: unknown): string | undefined {
  if (value instanceof Date) {
    return value.toISOString()
  }
  if (typeof value === "string" && !Number.isNaN(Date.parse(value))) {
    return new Date(value).toISOString()
  }
  return undefined
}

function requireString(data: Record<string, unknown>, key: string, event: string): string {
  const value = data[key]
  if (typeof value !== "string" || value === "") {
    throw new Error(`Herald: ${event} carries no ${key}`)
  }
  return value
}

/** Drops keys whose value is undefined or null, so Herald sees only what is known. */
function compact(data: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined && v !== null))
}

/** The expiry a JWT states (`exp`, seconds), as RFC 3339; none when it is not a readable JWT. */
export function jwtExpiry(token: string): string | undefined {
  try {
    const { exp } = jwtDecode(token)
    return typeof exp === "number" ? new Date(exp * 1000).toISOString() : undefined
  } catch {
    return undefined
  }
}

/**
 * Invites carry Medusa's own token (a JWT Medusa checks on accept), so the
 * id of a created or resent invite includes that token: a resend has a new
 * one. Returns undefined when the invite no longer exists.
 */
async function invite(container: MedusaContainer, name: string, id: string): Promise<Outgoing | undefined> {
  const row = await one(container, "invite", id, ["id", "email", "token", "expires_at", "metadata"])
  if (!row) {
    return undefined
  }
  const token = requireString(row, "token", name)
  return {
    data: compact({
      id: row.id,
      email: row.email,
      token,
      expires_at: iso(row.expires_at),
      metadata: row.metadata,
    }),
    idParts: [id, { secret: token }],
  }
}

/**
 * Builds Herald's data for one Medusa event, loading through Query what the
 * event (which carries only ids) does not hold. Undefined: nothing to send.
 */
export async function outgoingFor(
  container: MedusaContainer,
  name: HeraldEventName,
  eventData: Record<string, unknown>
): Promise<Outgoing | undefined> {
  switch (name) {
    case "invite.created":
    case "invite.resent":
      return invite(container, name, requireString(eventData, "id", name))
    case "invite.accepted":
    case "invite.deleted": {
      // The invite is deleted by then (acceptance deletes it too): its id is all there is.
      const id = requireString(eventData, "id", name)
      return { data: { id }, idParts: [id] }
    }
    case "user.created": {
      const id = requireString(eventData, "id", name)
      const user = await one(container, "user", id, ["id", "email", "first_name", "last_name"])
      return {
        data: compact({
          id,
          email: user?.email,
          first_name: user?.first_name,
          last_name: user?.last_name,
        }),
        idParts: [id],
      }
    }
    case "user.updated": {
      const id = requireString(eventData, "id", name)
      const user = await one(container, "user", id, ["id", "updated_at"], true)
      return { data: { id }, idParts: [id, iso(user?.updated_at) ?? "unknown"] }
    }
    case "user.deleted": {
      const id = requireString(eventData, "id", name)
      // Soft-deleted users can still be read, so Herald can also revoke by address.
      const user = await one(container, "user", id, ["id", "email"], true)
      return { data: compact({ id, email: user?.email }), idParts: [id] }
    }
    case "auth.password_reset": {
      const entityId = requireString(eventData, "entity_id", name)
      const token = requireString(eventData, "token", name)
      const actorType = eventData.actor_type ?? eventData.actorType
      return {
        data: compact({
          entity_id: entityId,
          actor_type: typeof actorType === "string" ? actorType : undefined,
          token,
          expires_at: jwtExpiry(token),
        }),
        idParts: [entityId, String(actorType ?? ""), { secret: token }],
      }
    }
  }
}
