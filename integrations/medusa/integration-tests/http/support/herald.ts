import { spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import fs from "node:fs"
import net from "node:net"
import os from "node:os"
import path from "node:path"
import { connect } from "amqplib"
import { Client } from "pg"

const PACKAGE_ROOT = path.resolve(__dirname, "../../..")
const REPO_ROOT = path.resolve(PACKAGE_ROOT, "../..")
export const AMQP_URL = process.env.HERALD_TEST_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672/%2f"
const POSTGRES_URL = process.env.HERALD_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432"

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Polls `check` until it returns true, failing at the deadline. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check().catch(() => false)) {
      return
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * The real `herald` binary (HERALD_BIN, else target/debug/herald of this
 * repository) run as `herald run` with its own database, exchange and queue.
 */
export class HeraldProcess {
  readonly suffix = randomBytes(6).toString("hex")
  readonly exchange = `herald.medusa.${this.suffix}`
  readonly queue = `herald.medusa.${this.suffix}`
  readonly database = `herald_medusa_${this.suffix}`
  readonly apiToken = randomBytes(32).toString("hex")
  readonly linkBase = "http://admin.medusa.test/app"
  readonly logFile = path.join(os.tmpdir(), `herald-medusa-${this.suffix}.log`)
  httpPort = 0
  private workDir?: string
  private child?: ChildProcess
  private exited?: Promise<number | null>

  get binary(): string {
    return path.resolve(PACKAGE_ROOT, process.env.HERALD_BIN ?? "../../target/debug/herald")
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`
  }

  async start(smtpPort: number): Promise<void> {
    if (!fs.existsSync(this.binary)) {
      throw new Error(`no herald binary at ${this.binary}: run \`cargo build --bin herald\` or set HERALD_BIN`)
    }
    this.httpPort = await freePort()
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "herald-medusa-")) // no stray .env is read
    this.workDir = cwd
    const log = fs.openSync(this.logFile, "w")
    this.child = spawn(this.binary, ["run"], {
      cwd,
      stdio: ["ignore", log, log],
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? cwd,
        RUST_LOG: "info",
        HERALD_LOG_FORMAT: "json",
        DATABASE_URL: `${POSTGRES_URL}/${this.database}`,
        AMQP_URL,
        HERALD_EXCHANGE: this.exchange,
        HERALD_QUEUE: this.queue,
        SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
        HERALD_TEMPLATES_DIR: path.join(REPO_ROOT, "templates"),
        HERALD_LINK_BASE_URL: this.linkBase,
        HERALD_SECRET_KEY: randomBytes(32).toString("base64"),
        HERALD_API_TOKEN: this.apiToken,
        HERALD_HTTP_ADDR: `127.0.0.1:${this.httpPort}`,
        HERALD_WEBHOOK_ALLOW_PRIVATE: "true",
        HERALD_EMAIL_RATE_LIMIT: "0",
        HERALD_EMAIL_RETRY_SCHEDULE: "1s,2s,5s",
        HERALD_WEBHOOK_RETRY_SCHEDULE: "1s,2s,5s",
      },
    })
    fs.closeSync(log)
    const child = this.child
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)))
    let exitCode: number | null | undefined
    this.exited.then((code) => (exitCode = code))
    await waitUntil("herald /readyz", async () => {
      if (exitCode !== undefined) {
        throw new Error(`herald exited with ${exitCode}:\n${this.logTail()}`)
      }
      const res = await fetch(`${this.baseUrl}/readyz`)
      return res.status === 200
    }).catch((e) => {
      throw new Error(`${e.message}\n${this.logTail()}`)
    })
  }

  logTail(lines = 30): string {
    try {
      return fs.readFileSync(this.logFile, "utf8").trim().split("\n").slice(-lines).join("\n")
    } catch {
      return "(no herald log)"
    }
  }

  async api(method: string, route: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${this.baseUrl}${route}`, {
      method,
      headers: { authorization: `Bearer ${this.apiToken}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    return { status: res.status, json: text ? JSON.parse(text) : undefined }
  }

  /** Registers a webhook endpoint for every event type; returns its secret. */
  async addWebhook(url: string): Promise<string> {
    const { status, json } = await this.api("POST", "/v1/webhook-endpoints", { url })
    if (status !== 201) {
      throw new Error(`webhook registration answered ${status}: ${JSON.stringify(json)}`)
    }
    return json.secret
  }

  /** `herald_events_total{type, outcome}` from /metrics. */
  async eventCount(type: string, outcome: string): Promise<number> {
    const text = await (await fetch(`${this.baseUrl}/metrics`)).text()
    let total = 0
    for (const line of text.split("\n")) {
      if (
        line.startsWith("herald_events_total{") &&
        line.includes(`type="${type}"`) &&
        line.includes(`outcome="${outcome}"`)
      ) {
        total += Number(line.trim().split(/\s+/).pop())
      }
    }
    return total
  }

  async waitForEventCount(type: string, outcome: string, atLeast: number): Promise<void> {
    await waitUntil(`${atLeast} ${outcome} ${type} in herald_events_total`, async () =>
      (await this.eventCount(type, outcome)) >= atLeast
    )
  }

  /** How many events Herald dead-lettered. */
  async deadLetterCount(): Promise<number> {
    const conn = await connect(AMQP_URL)
    try {
      const ch = await conn.createChannel()
      const { messageCount } = await ch.checkQueue(`${this.queue}.dead-letter`)
      return messageCount
    } finally {
      await conn.close()
    }
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) {
      return
    }
    this.child.kill("SIGTERM")
    const stopped = await Promise.race([
      this.exited!.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)),
    ])
    if (!stopped) {
      this.child.kill("SIGKILL")
      await this.exited
    }
  }

  /** Removes the database, exchanges and queues this run created. */
  async cleanUp(): Promise<void> {
    const conn = await connect(AMQP_URL)
    try {
      for (const op of [
        (ch: any) => ch.deleteQueue(this.queue),
        (ch: any) => ch.deleteQueue(`${this.queue}.dead-letter`),
        (ch: any) => ch.deleteExchange(this.exchange),
        (ch: any) => ch.deleteExchange(`${this.queue}.dead-letter`),
      ]) {
        // A failed delete closes its channel: one channel per delete.
        const ch = await conn.createChannel()
        ch.on("error", () => undefined)
        await op(ch).catch(() => undefined)
        await ch.close().catch(() => undefined)
      }
    } finally {
      await conn.close()
    }
    const pg = new Client({ connectionString: `${POSTGRES_URL}/postgres` })
    await pg.connect()
    try {
      await pg.query(`DROP DATABASE IF EXISTS "${this.database}" WITH (FORCE)`)
    } finally {
      await pg.end()
    }
    fs.rmSync(this.logFile, { force: true })
    if (this.workDir) {
      fs.rmSync(this.workDir, { recursive: true, force: true })
    }
  }
}
