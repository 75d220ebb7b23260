import type { AddressInfo } from "node:net"
import { simpleParser, type ParsedMail } from "mailparser"
import { SMTPServer } from "smtp-server"
import { Inbox } from "./inbox"

export type Mail = { to: string[]; subject: string; text: string; html: string; raw: ParsedMail }

/** A real SMTP server on 127.0.0.1 (port 0) that keeps every message it accepts. */
export class SmtpSink {
  readonly inbox = new Inbox<Mail>()
  private server?: SMTPServer
  port = 0

  async start(): Promise<void> {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onData: (stream, session, callback) => {
        simpleParser(stream)
          .then((parsed) => {
            this.inbox.push({
              to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
              subject: parsed.subject ?? "",
              text: parsed.text ?? "",
              html: typeof parsed.html === "string" ? parsed.html : "",
              raw: parsed,
            })
            callback()
          })
          .catch((e) => callback(e))
      },
    })
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject)
      this.server!.listen(0, "127.0.0.1", () => resolve())
    })
    this.port = ((this.server as any).server.address() as AddressInfo).port
  }

  /** The next email to `address` whose text matches `pattern`; returns the match. */
  async nextMatching(address: string, pattern: RegExp, timeoutMs?: number): Promise<{ mail: Mail; match: RegExpMatchArray }> {
    const mail = await this.inbox.next(
      `an email to ${address} matching ${pattern}`,
      (m) => m.to.includes(address.toLowerCase()) && pattern.test(m.text),
      timeoutMs
    )
    return { mail, match: mail.text.match(pattern)! }
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}
