import type { SubscriberArgs } from "@medusajs/framework"
import { ContainerRegistrationKeys } from "@medusajs/framework/utils"
import { cloudEvent, eventId } from "./cloud-event"
import { HERALD_EVENTS, outgoingFor, type HeraldEventName } from "./events"
import { optionsFromConfig, resolveOptions } from "./options"
import { publish } from "./publisher"

type Logger = { info(msg: string): void; warn(msg: string): void; debug?(msg: string): void }

function isHeraldEvent(name: string): name is HeraldEventName {
  return (HERALD_EVENTS as readonly string[]).includes(name)
}

/**
 * Forwards one Medusa event to Herald and resolves once RabbitMQ has
 * confirmed it. Any failure is thrown, so that Medusa's event bus records it
 * and retries where it can.
 */
export async function forwardToHerald({
  event,
  container,
  pluginOptions,
}: SubscriberArgs<Record<string, unknown>>): Promise<void> {
  const name = event.name
  if (!isHeraldEvent(name)) {
    return
  }
  const logger = container.resolve<Logger>(ContainerRegistrationKeys.LOGGER)
  const options = resolveOptions(
    pluginOptions && Object.keys(pluginOptions).length > 0
      ? pluginOptions
      : optionsFromConfig(container.resolve<{ plugins?: any[] }>(ContainerRegistrationKeys.CONFIG_MODULE).plugins)
  )
  const outgoing = await outgoingFor(container, name, event.data ?? {})
  if (!outgoing) {
    logger.warn(`Herald: ${name} for ${String(event.data?.id)} not forwarded: the entity no longer exists`)
    return
  }
  const id = eventId(name, outgoing.idParts)
  await publish(options, cloudEvent(options.source, name, id, outgoing.data))
  logger.debug?.(`Herald: forwarded ${name} as ${id}`)
}
