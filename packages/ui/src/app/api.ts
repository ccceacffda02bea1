/**
 * The API as the UI calls it: tRPC's typed client over the same router the SDK and CLI use, with
 * TanStack Query for caching and live refetches. The API key, when the server wants one, lives in
 * this tab's sessionStorage only: the built files carry no secret.
 */
import type { AppRouter } from '@drover/server';
import { MutationCache, QueryCache, QueryClient } from '@tanstack/react-query';
import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import { createTRPCContext } from '@trpc/tanstack-react-query';

export const { TRPCProvider, useTRPC } = createTRPCContext<AppRouter>();

const KEY_ITEM = 'drover.apiKey';

export function storedApiKey(): string | null {
  return sessionStorage.getItem(KEY_ITEM);
}

export function storeApiKey(key: string): void {
  sessionStorage.setItem(KEY_ITEM, key);
}

/** What a refused call tells the app: the key is missing or wrong. */
const unauthorizedListeners = new Set<() => void>();

export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** The error's Drover code (`PARAMETERS_INVALID`, `UNAUTHORIZED`, ...), when the server sent one. */
export function droverCode(error: unknown): string | undefined {
  if (!(error instanceof TRPCClientError)) return undefined;
  return (error.data as { droverCode?: string } | undefined)?.droverCode;
}

/** `path: message` problems the server named (bad parameters, bad input), when it named any. */
export function errorIssues(error: unknown): { path: string; message: string }[] {
  if (!(error instanceof TRPCClientError)) return [];
  const data = error.data as { issues?: { path: string; message: string }[]; details?: { issues?: { path: string; message: string }[] } } | undefined;
  return [...(data?.issues ?? []), ...(data?.details?.issues ?? [])];
}

function reportUnauthorized(error: unknown): void {
  if (droverCode(error) === 'UNAUTHORIZED') for (const listener of unauthorizedListeners) listener();
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    queryCache: new QueryCache({ onError: reportUnauthorized }),
    mutationCache: new MutationCache({ onError: reportUnauthorized }),
    defaultOptions: {
      queries: {
        // A refused or missing thing stays so on a retry; only the network's hiccups are worth one.
        retry: (failures, error) => failures < 2 && !(error instanceof TRPCClientError && error.data),
        refetchOnWindowFocus: true,
        staleTime: 1000,
      },
    },
  });
}

export function createApiClient() {
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: window.location.origin,
        headers() {
          const key = storedApiKey();
          return key ? { authorization: `Bearer ${key}` } : {};
        },
      }),
    ],
  });
}

/** How often lists and pages refetch while shown: the issue's "within 2 s". */
export const LIVE_MS = 2000;
