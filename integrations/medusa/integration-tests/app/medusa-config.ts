import path from "node:path"
import { defineConfig } from "@medusajs/framework/utils"

// A store that installs the built plugin (`.medusa/server`, from `npm run
// build`) the way a real store does, with its options in the config. The
// test sets the exchange before the app boots.
module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    http: {
      jwtSecret: "integration-test-jwt-secret",
      cookieSecret: "integration-test-cookie-secret",
      storeCors: "",
      adminCors: "",
      authCors: "",
    },
  },
  admin: { disable: true },
  plugins: [
    {
      resolve: path.resolve(__dirname, "../.."),
      options: {
        amqpUrl: process.env.HERALD_TEST_AMQP_URL,
        exchange: process.env.HERALD_TEST_EXCHANGE,
        source: "medusa-integration-test",
      },
    },
  ],
})
