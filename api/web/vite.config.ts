/// <reference types="vitest" />
import path from 'node:path';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` proxies REST and the live WebSocket to a running ambientd
// (README.md): AMBIENT_API (default http://127.0.0.1:8080) and AMBIENT_LIVE
// (default: the next port). The Origin header is dropped on the WebSocket,
// so the live service's Origin check (api.allowed_origins) passes.
const api = process.env.AMBIENT_API ?? 'http://127.0.0.1:8080';
const live =
  process.env.AMBIENT_LIVE ??
  api.replace(/:(\d+)$/, (_, port: string) => `:${Number(port) + 1}`);

export default defineConfig({
  plugins: [react()],
  resolve: { alias: { '@': path.resolve(__dirname, 'src') } },
  build: {
    outDir: process.env.AMBIENT_WEB_OUT ?? 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    // An address, not "localhost": the dev server and Vitest's own server
    // must not depend on /etc/hosts (a minimal root has none).
    host: '127.0.0.1',
    proxy: {
      '^/api/projects/[^/]+/agentic-sessions/[^/]+/ws': {
        target: live,
        ws: true,
        configure: (proxy) => {
          proxy.on('proxyReqWs', (req) => req.removeHeader('origin'));
        },
      },
      '/api': { target: api },
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
