import { medusaIntegrationTestRunner } from "@medusajs/test-utils"
import { createUserAccountWorkflow } from "@medusajs/core-flows"
import { jwtDecode } from "jwt-decode"
import path from "node:path"
import { Webhook } from "standardwebhooks"
import { sha256Hex } from "../../src/lib/cloud-event"
import { HeraldProcess } from "./support/herald"
import { SmtpSink } from "./support/smtp-sink"
import { WebhookReceiver } from "./support/webhook-receiver"

jest.setTimeout(120_000)

// A real Medusa app (booted once for every case) with the built plugin,
// the real herald binary, RabbitMQ, an SMTP server and a webhook endpoint.
const herald = new HeraldProcess()
const smtp = new SmtpSink()
const receiver = new WebhookReceiver()
let webhookSecret = ""

// The built plugin, as the app loaded it (same module registry): its
// subscriber, to run it again as Medusa's bus does, and its connection.
const built = path.join(__dirname, "../../.medusa/server/src")
const { default: heraldForwarder } = require(path.join(built, "subscribers/herald-forwarder"))
const { closeConnection } = require(path.join(built, "lib/publisher"))

// Read by integration-tests/app/medusa-config.ts when the app boots.
process.env.HERALD_TEST_EXCHANGE = herald.exchange

const PASSWORD = "first-Passw0rd!"
let seq = 0
const uniqueEmail = (who: string) => `${who}-${herald.suffix}-${++seq}@example.com`

// Tokens are compared by hash, so that a failing assertion prints no token.
const h = (token: string) => sha256Hex(token)

function escapeRegExp(s: string) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
}
const inviteLink = new RegExp(`${escapeRegExp(herald.linkBase)}/invite\\?token=([^\\s&"'<>]+)`)
const resetLink = new RegExp(`${escapeRegExp(herald.linkBase)}/reset-password\\?token=([^\\s&"'<>]+)&email=`)

beforeAll(async () => {
  await Promise.all([smtp.start(), receiver.start()])
  await herald.start(smtp.port)
  webhookSecret = await herald.addWebhook(receiver.url)
})

afterAll(async () => {
  await closeConnection()
  await herald.stop()
  await Promise.all([smtp.stop(), receiver.stop()])
  await herald.cleanUp()
})

medusaIntegrationTestRunner({
  medusaConfigFile: path.join(__dirname, "../app"),
  testSuite: ({ api, getContainer }) => {
    let adminEmail = ""
    let adminHeaders: { headers: Record<string, string> } = { headers: {} }

    async function createUser(email: string): Promise<string> {
      const { data: registered } = await api.post("/auth/user/emailpass/register", { email, password: PASSWORD })
      const { auth_identity_id } = jwtDecode<{ auth_identity_id: string }>(registered.token)
      const { result } = await createUserAccountWorkflow(getContainer()).run({
        input: { authIdentityId: auth_identity_id, userData: { email } },
      })
      return result.id
    }

    // The runner restores the database before each case: the admin is created anew.
    beforeEach(async () => {
      adminEmail = uniqueEmail("admin")
      await createUser(adminEmail)
      const { data: login } = await api.post("/auth/user/emailpass", { email: adminEmail, password: PASSWORD })
      adminHeaders = { headers: { authorization: `Bearer ${login.token}` } }
    })

    async function registerInvitee(email: string): Promise<{ headers: Record<string, string> }> {
      const { data } = await api.post("/auth/user/emailpass/register", { email, password: PASSWORD })
      return { headers: { authorization: `Bearer ${data.token}` } }
    }

    async function acceptStatus(token: string, invitee: { headers: Record<string, string> }) {
      const res = await api.post(
        `/admin/invites/accept?token=${encodeURIComponent(token)}`,
        { first_name: "Ada", last_name: "Lovelace" },
        { ...invitee, validateStatus: () => true }
      )
      return res
    }

    it("sends Medusa's invite token by email, Medusa accepts it, and Herald forwards invite.accepted signed", async () => {
      const email = uniqueEmail("invitee")
      const { data } = await api.post("/admin/invites", { email }, adminHeaders)
      const invite = data.invite

      const { match } = await smtp.nextMatching(email, inviteLink)
      const emailedToken = decodeURIComponent(match[1])
      expect(h(emailedToken)).toBe(h(invite.token))

      const accepted = await acceptStatus(emailedToken, await registerInvitee(email))
      expect(accepted.status).toBe(200)
      expect(accepted.data.user.email).toBe(email)

      const delivery = await receiver.next("invite.accepted", (d) => d.id === invite.id)
      const verified = new Webhook(webhookSecret).verify(delivery.body, delivery.headers) as any
      expect(verified.type).toBe("invite.accepted")
      expect(verified.data).toMatchObject({ id: invite.id, email, status: "accepted" })

      // The invite.created webhook Herald forwarded carries no token.
      const created = await receiver.next("invite.created", (d) => d.id === invite.id)
      expect(created.json.data.email).toBe(email)
      expect(created.body.includes(invite.token)).toBe(false)
    })

    it("sends Medusa's reset token by email; Medusa takes it to change the password, and the new one logs in", async () => {
      const res = await api.post("/auth/user/emailpass/reset-password", { identifier: adminEmail })
      expect(res.status).toBe(201)

      const { match } = await smtp.nextMatching(adminEmail, resetLink)
      const token = decodeURIComponent(match[1])
      expect(jwtDecode<{ entity_id: string }>(token).entity_id).toBe(adminEmail)

      const newPassword = "second-Passw0rd!"
      const update = await api.post(
        "/auth/user/emailpass/update",
        { email: adminEmail, password: newPassword },
        { headers: { authorization: `Bearer ${token}` } }
      )
      expect(update.status).toBe(200)

      const login = await api.post("/auth/user/emailpass", { email: adminEmail, password: newPassword })
      expect(login.status).toBe(200)
      expect(typeof login.data.token).toBe("string")
      const old = await api.post(
        "/auth/user/emailpass",
        { email: adminEmail, password: PASSWORD },
        { validateStatus: () => true }
      )
      expect(old.status).toBe(401)

      const forwarded = await receiver.next("auth.password_reset", (d) => d.entity_id === adminEmail)
      expect(forwarded.body.includes(token)).toBe(false)
    })

    it("emails a new token on Medusa's resend; Medusa refuses the old one and accepts the new", async () => {
      const email = uniqueEmail("resent")
      const { data } = await api.post("/admin/invites", { email }, adminHeaders)
      const first = decodeURIComponent((await smtp.nextMatching(email, inviteLink)).match[1])
      expect(h(first)).toBe(h(data.invite.token))

      const { data: resent } = await api.post(`/admin/invites/${data.invite.id}/resend`, {}, adminHeaders)
      expect(h(resent.invite.token)).not.toBe(h(first))
      const second = decodeURIComponent((await smtp.nextMatching(email, inviteLink)).match[1])
      expect(h(second)).toBe(h(resent.invite.token))

      const invitee = await registerInvitee(email)
      expect((await acceptStatus(first, invitee)).status).toBe(401)
      const accepted = await acceptStatus(second, invitee)
      expect(accepted.status).toBe(200)
      expect(accepted.data.user.email).toBe(email)

      await receiver.next("invite.resent", (d) => d.id === data.invite.id)
    })

    it("revokes the invite in Herald when Medusa deletes it, and forwards invite.deleted", async () => {
      const email = uniqueEmail("deleted")
      const { data } = await api.post("/admin/invites", { email }, adminHeaders)
      const token = decodeURIComponent((await smtp.nextMatching(email, inviteLink)).match[1])
      expect((await herald.api("POST", "/v1/invites/validate", { token })).status).toBe(200)

      const deleted = await api.delete(`/admin/invites/${data.invite.id}`, adminHeaders)
      expect(deleted.status).toBe(200)

      const delivery = await receiver.next("invite.deleted", (d) => d.id === data.invite.id)
      const verified = new Webhook(webhookSecret).verify(delivery.body, delivery.headers) as any
      expect(verified.data).toMatchObject({ id: data.invite.id, email, status: "revoked" })
      // Herald's copy of the token stops working too.
      expect((await herald.api("POST", "/v1/invites/validate", { token })).status).toBe(404)
    })

    it("publishes one event id when Medusa runs the subscriber twice, so Herald sends one email", async () => {
      const email = uniqueEmail("twice")
      const { data } = await api.post("/admin/invites", { email }, adminHeaders)
      const invite = data.invite
      await smtp.nextMatching(email, inviteLink)
      const duplicatesBefore = await herald.eventCount("invite.created", "duplicate")
      const processedBefore = await herald.eventCount("invite.created", "processed")

      // What Medusa's event bus does when it retries a subscriber.
      await heraldForwarder({
        event: { name: "invite.created", data: { id: invite.id } },
        container: getContainer(),
        pluginOptions: {},
      })

      await herald.waitForEventCount("invite.created", "duplicate", duplicatesBefore + 1)
      expect(await herald.eventCount("invite.created", "processed")).toBe(processedBefore)
      expect(smtp.inbox.all().filter((m) => m.to.includes(email))).toHaveLength(1)
    })

    it("forwards each user.updated, and user.deleted with the deleted user's address", async () => {
      const email = uniqueEmail("member")
      const id = await createUser(email)
      const created = await receiver.next("user.created", (d) => d.id === id)
      expect(created.json.data.email).toBe(email)

      await api.post(`/admin/users/${id}`, { first_name: "Augusta" }, adminHeaders)
      const first = await receiver.next("user.updated", (d) => d.id === id)
      await api.post(`/admin/users/${id}`, { first_name: "Ada" }, adminHeaders)
      const second = await receiver.next("user.updated", (d) => d.id === id)
      // Two updates are two occurrences (their updated_at differ), not one event sent twice.
      expect(second.headers["webhook-id"]).not.toBe(first.headers["webhook-id"])

      const res = await api.delete(`/admin/users/${id}`, adminHeaders)
      expect(res.data).toMatchObject({ id, deleted: true })
      const deleted = await receiver.next("user.deleted", (d) => d.id === id)
      expect(deleted.json.data.email).toBe(email)
    })

    it("leaves nothing in Herald's dead-letter queue", async () => {
      // Every event above reached Herald (its emails and webhooks arrived);
      // none of them, nor the user.created ones, was refused.
      await receiver.next("user.created", (d) => d.email === adminEmail)
      expect(await herald.deadLetterCount()).toBe(0)
    })
  },
})
