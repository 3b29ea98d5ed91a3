// An app for the launcher test of frameworks: an Express server with no metrics code (the launcher
// finds its route templates by itself) and a Fastify server that also registers our plugin (the
// launcher already tracks each request; the plugin must only add the route, not count it again).
import express from 'express';
import Fastify from 'fastify';
import { fastifyMetrics } from '../../../src/index.js';

const app = express();
app.get('/users/:id', (_req, res) => void res.send('user'));
app.listen(Number(process.env.EXPRESS_PORT), '127.0.0.1', () => console.log('express listening'));

const fastify = Fastify();
await fastify.register(fastifyMetrics);
fastify.get('/orders/:orderId', async () => 'order');
await fastify.listen({ port: Number(process.env.FASTIFY_PORT), host: '127.0.0.1' });
console.log('fastify listening');
