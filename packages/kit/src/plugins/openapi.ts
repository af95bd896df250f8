import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'

/**
 * The service's OpenAPI document at GET /openapi.json, generated from the TypeBox schemas of
 * every route registered after this plugin (so it never drifts from what the routes validate).
 */
export default fp<{ service: string }>(
  async (app, { service }) => {
    await app.register(swagger, {
      openapi: {
        info: { title: service, version: '0.1.0' },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      },
    })
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  },
  { name: 'openapi' },
)
