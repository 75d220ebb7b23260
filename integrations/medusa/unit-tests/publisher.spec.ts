import { randomBytes } from "node:crypto"
import { connect, type Channel, type ChannelModel } from "amqplib"
import { cloudEvent } from "../src/lib/cloud-event"
import { resolveOptions } from "../src/lib/options"
import { closeConnection, publish } from "../src/lib/publisher"

// Against the real RabbitMQ on 127.0.0.1:5672, with a throw-away exchange and queue.
const AMQP_URL = process.env.HERALD_TEST_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672/%2f"
const name = `herald.medusa.unit.${randomBytes(6).toString("hex")}`
let admin: ChannelModel
let ch: Channel

beforeAll(async () => {
  admin = await connect(AMQP_URL)
  ch = await admin.createChannel()
  await ch.assertExchange(name, "topic", { durable: false, autoDelete: false })
  await ch.assertQueue(name, { durable: false, exclusive: true })
  await ch.bindQueue(name, name, "user.updated")
})

afterAll(async () => {
  await closeConnection()
  await ch.deleteQueue(name)
  await ch.deleteExchange(name)
  await admin.close()
})

const options = (over: Record<string, unknown> = {}) => resolveOptions({ amqpUrl: AMQP_URL, exchange: name, ...over }, {})

it("publishes a persistent CloudEvent with the type as routing key and the id as message-id, once confirmed", async () => {
  await publish(options(), cloudEvent("medusa", "user.updated", "evt-1", { id: "user_1" }))
  const msg = await ch.get(name, { noAck: true })
  expect(msg).not.toBe(false)
  if (msg === false) return
  expect(msg.fields.routingKey).toBe("user.updated")
  expect(msg.properties.messageId).toBe("evt-1")
  expect(msg.properties.deliveryMode).toBe(2)
  expect(msg.properties.contentType).toBe("application/cloudevents+json")
  expect(JSON.parse(msg.content.toString())).toMatchObject({
    specversion: "1.0",
    id: "evt-1",
    type: "user.updated",
    data: { id: "user_1" },
  })
})

it("throws when no queue is bound for the type", async () => {
  await expect(publish(options(), cloudEvent("medusa", "invite.deleted", "evt-2", { id: "i" }))).rejects.toThrow(
    /no queue is bound for invite.deleted/
  )
})

it("throws when the exchange does not exist, and opens a fresh channel for the next event", async () => {
  await expect(
    publish(options({ exchange: `${name}.missing` }), cloudEvent("medusa", "user.updated", "evt-3", { id: "u" }))
  ).rejects.toThrow(/NOT.FOUND|404/)
  await publish(options(), cloudEvent("medusa", "user.updated", "evt-4", { id: "u" }))
  const msg = await ch.get(name, { noAck: true })
  expect(msg && msg.properties.messageId).toBe("evt-4")
})

it("throws when RabbitMQ cannot be reached, without the password in the message", async () => {
  const err = await publish(
    options({ amqpUrl: "amqp://guest:s3cret@127.0.0.1:1/%2f" }),
    cloudEvent("medusa", "user.updated", "evt-5", { id: "u" })
  ).catch((e) => e)
  expect(err).toBeInstanceOf(Error)
  expect(err.message).toMatch(/cannot connect to RabbitMQ/)
  expect(err.message).not.toContain("s3cret")
})
