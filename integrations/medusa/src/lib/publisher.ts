import { connect, type ChannelModel, type ConfirmChannel } from "amqplib"
import type { CloudEvent } from "./cloud-event"
import type { ResolvedOptions } from "./options"

/**
 * One AMQP connection per process, opened on the first event and opened again
 * on the next event after it closes. Each link has one confirm channel: the
 * broker confirms every publish, and with `mandatory` it first returns any
 * event that no queue is bound to receive.
 */
type Link = {
  url: string
  connection: ChannelModel
  channel: ConfirmChannel
  /** Message ids the broker returned as unroutable, awaiting their confirm. */
  returned: Set<string>
  /** Set once the channel or connection has closed: the next event opens a new link. */
  closed?: boolean
  /** Why the broker closed the channel or connection, for the error thrown. */
  closedBecause?: string
}

let current: { url: string; link: Promise<Link> } | null = null

/** The URL without its password, for error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) {
      u.password = "***"
    }
    return u.toString()
  } catch {
    return "<unparseable AMQP URL>"
  }
}

async function open(url: string): Promise<Link> {
  let connection: ChannelModel
  try {
    connection = await connect(url, {
      clientProperties: { connection_name: "medusa-plugin-herald" },
    })
  } catch (e) {
    throw new Error(`Herald: cannot connect to RabbitMQ at ${redactUrl(url)}: ${(e as Error).message}`)
  }
  const link: Partial<Link> = { url, connection, returned: new Set() }
  // Without listeners an "error" event would crash the process; the "close"
  // that always follows it is where the link is dropped.
  connection.on("error", (e: Error) => {
    link.closedBecause = e.message
  })
  connection.on("close", () => drop(link))
  try {
    const channel = await connection.createConfirmChannel()
    channel.on("error", (e: Error) => {
      link.closedBecause = e.message
    })
    // A channel closes on errors such as a missing exchange; start afresh.
    channel.on("close", () => {
      drop(link)
      connection.close().catch(() => undefined)
    })
    channel.on("return", (msg) => {
      const id = msg.properties.messageId
      if (typeof id === "string") {
        link.returned!.add(id)
      }
    })
    link.channel = channel
    if (link.closed) {
      throw new Error(`Herald: the connection to RabbitMQ at ${redactUrl(url)} closed while opening: ${link.closedBecause ?? "no reason given"}`)
    }
  } catch (e) {
    connection.close().catch(() => undefined)
    throw e
  }
  return link as Link
}

function drop(link: Partial<Link>) {
  link.closed = true
}

async function linkFor(url: string): Promise<Link> {
  if (current && current.url === url) {
    const entry = current
    const link = await entry.link.catch(() => undefined)
    if (link && !link.closed) {
      return link
    }
    if (current === entry) {
      current = null
    }
  }
  if (current) {
    // Another URL than before (options changed): retire the old connection.
    current.link.then((l) => l.connection.close()).catch(() => undefined)
    current = null
  }
  const entry = { url, link: open(url) }
  current = entry
  try {
    return await entry.link
  } catch (e) {
    // A failed open is not kept: the next event tries again.
    if (current === entry) {
      current = null
    }
    throw e
  }
}

/**
 * Publishes one CloudEvent with the event type as routing key and its id as
 * the AMQP message-id, persistent, and resolves only once the broker has
 * confirmed it. Throws when RabbitMQ cannot be reached, refuses or does not
 * confirm in time, or when no queue is bound for the type (Herald's topology
 * is not declared: run `herald migrate`).
 */
export async function publish(options: ResolvedOptions, event: CloudEvent): Promise<void> {
  const link = await linkFor(options.amqpUrl)
  const body = Buffer.from(JSON.stringify(event), "utf8")
  let timer: NodeJS.Timeout | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`Herald: RabbitMQ did not confirm ${event.type} ${event.id} within ${options.confirmTimeoutMs} ms`))
        // The confirm may never come on this connection: open a fresh one next time.
        link.connection.close().catch(() => undefined)
      }, options.confirmTimeoutMs)
      try {
        link.channel.publish(
          options.exchange,
          event.type,
          body,
          {
            persistent: true,
            mandatory: true,
            messageId: event.id,
            contentType: "application/cloudevents+json",
            timestamp: Math.floor(Date.now() / 1000),
            appId: "medusa-plugin-herald",
          },
          (err) =>
            err
              ? reject(
                  new Error(
                    `Herald: RabbitMQ did not accept ${event.type} ${event.id}: ${err.message ?? err}` +
                      (link.closedBecause ? ` (${link.closedBecause})` : "")
                  )
                )
              : resolve()
        )
      } catch (e) {
        reject(new Error(`Herald: cannot publish ${event.type} ${event.id}: ${(e as Error).message}`))
      }
    })
  } finally {
    clearTimeout(timer)
  }
  if (link.returned.delete(event.id)) {
    throw new Error(
      `Herald: no queue is bound for ${event.type} on exchange "${options.exchange}"; ` +
        "is Herald's topology declared (herald migrate) and does this Herald know the event type?"
    )
  }
}

/** Closes the shared connection, if one is open (shutdown, tests). */
export async function closeConnection(): Promise<void> {
  const entry = current
  current = null
  if (entry) {
    try {
      const link = await entry.link
      await link.connection.close()
    } catch {
      // Already closed or never opened.
    }
  }
}
