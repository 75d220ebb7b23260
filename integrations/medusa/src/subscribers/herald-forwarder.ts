import type { SubscriberArgs, SubscriberConfig } from "@medusajs/framework"
import { HERALD_EVENTS } from "../lib/events"
import { forwardToHerald } from "../lib/forward"

/**
 * Publishes each invite, user and password-reset event to Herald's exchange
 * as a CloudEvent, with what Herald needs loaded through Query.
 */
export default async function heraldForwarder(args: SubscriberArgs<Record<string, unknown>>) {
  await forwardToHerald(args)
}

export const config: SubscriberConfig = {
  event: [...HERALD_EVENTS],
  context: { subscriberId: "herald-forwarder" },
}
