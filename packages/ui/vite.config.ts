import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The app builds into dist/app, beside dist/index.js (which tells the server where it is).
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist/app',
    emptyOutDir: true,
    // Source maps stay out of the package: the UI is served to browsers, not debugged from npm.
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `pnpm --filter @drover/ui exec vite` against a server on 4200: the API's paths are procedure names.
    proxy: { '^/[a-zA-Z]+\\.[a-zA-Z.,]+': 'http://127.0.0.1:4200' },
  },
});
