import http from "node:http"
import type { AddressInfo } from "node:net"
import { Inbox } from "./inbox"

export type Delivery = { headers: Record<string, string>; body: string; json: any }

/** A real HTTP endpoint on 127.0.0.1 (port 0) that answers 204 and keeps every POST. */
export class WebhookReceiver {
  readonly inbox = new Inbox<Delivery>()
  private server?: http.Server
  port = 0

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/herald`
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on("data", (c) => chunks.push(c))
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8")
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(req.headers)) {
          headers[k] = Array.isArray(v) ? v.join(", ") : String(v)
        }
        let json: any
        try {
          json = JSON.parse(body)
        } catch {
          json = undefined
        }
        this.inbox.push({ headers, body, json })
        res.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", () => resolve()))
    this.port = (this.server.address() as AddressInfo).port
  }

  next(type: string, matches: (data: any) => boolean, timeoutMs?: number): Promise<Delivery> {
    return this.inbox.next(`a ${type} webhook`, (d) => d.json?.type === type && matches(d.json?.data ?? {}), timeoutMs)
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}
