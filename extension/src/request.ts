/**
 * The one way the frontend talks to the server extension.
 *
 * The API's namespace is defined once, in Python (nbtrail.server.handlers.NAMESPACE), and
 * handed to the page as the page-config option `nbtrailApi`; nothing here repeats it.
 */
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

export function apiNamespace(): string {
  const namespace = PageConfig.getOption('nbtrailApi');
  if (!namespace) {
    throw new ApiError(
      'the nbtrail server extension is not enabled (jupyter server extension enable nbtrail)',
      0
    );
  }
  return namespace;
}

export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, apiNamespace(), endPoint);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const text = await response.text();
  let data: any = {};
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text };
    }
  }
  if (!response.ok) {
    throw new ApiError(data.error || response.statusText, response.status);
  }
  return data as T;
}

export function query(params: Record<string, string | undefined>): string {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== '');
  return entries.length
    ? '?' + entries.map(([k, v]) => `${k}=${encodeURIComponent(v as string)}`).join('&')
    : '';
}
