import { EventEmitter } from "node:events"

/**
 * What a test peer has received, in order. `next` resolves with the first
 * item that matches and that no earlier `next` took, waiting (event-driven,
 * with a deadline) until one arrives.
 */
export class Inbox<T> {
  private readonly items: T[] = []
  private readonly taken = new Set<number>()
  private readonly arrived = new EventEmitter()

  push(item: T) {
    this.items.push(item)
    this.arrived.emit("item")
  }

  all(): readonly T[] {
    return this.items
  }

  next(what: string, matches: (item: T) => boolean, timeoutMs = 30_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const look = () => {
        const i = this.items.findIndex((item, idx) => !this.taken.has(idx) && matches(item))
        if (i === -1) {
          return false
        }
        this.taken.add(i)
        cleanup()
        resolve(this.items[i])
        return true
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.items.length} received)`))
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        this.arrived.off("item", look)
      }
      if (!look()) {
        this.arrived.on("item", look)
      }
    })
  }
}
