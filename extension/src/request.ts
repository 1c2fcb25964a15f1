/**
 * The one way the frontend talks to the server extension.
 *
 * The API's namespace and its endpoints are defined once, in Python (nbtrail.server.shapes),
 * and handed to the page as the page-config options `nbtrailApi` (the namespace) and
 * `nbtrailEndpoints` (endpoint name -> route under it); nothing here repeats a path. The
 * endpoint names are typed by the generated `Endpoint` union in ./api.
 */
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { Endpoint } from './api';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

const NOT_ENABLED =
  'the nbtrail server extension is not enabled (jupyter server extension enable nbtrail)';

export function apiNamespace(): string {
  const namespace = PageConfig.getOption('nbtrailApi');
  if (!namespace) {
    throw new ApiError(NOT_ENABLED, 0);
  }
  return namespace;
}

let routes: Record<string, string> | null = null;

/** The server's endpoint table (the page config hands it over as a JSON string). */
function endpoints(): Record<string, string> {
  if (routes) {
    return routes;
  }
  const raw = PageConfig.getOption('nbtrailEndpoints');
  if (!raw) {
    throw new ApiError(`${NOT_ENABLED}: the page has no 'nbtrailEndpoints' option`, 0);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = null;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ApiError(`the page option 'nbtrailEndpoints' is not a JSON object: ${raw}`, 0);
  }
  routes = parsed as Record<string, string>;
  return routes;
}

/**
 * The route of an endpoint under the API's namespace, its `{id}` filled in.
 *
 * Throws when the server does not name the endpoint (a frontend newer than the server), or
 * when an id is missing or given where the route takes none.
 */
export function endpoint(name: Endpoint, id?: string): string {
  const route = endpoints()[name];
  if (typeof route !== 'string') {
    throw new ApiError(
      `the server names no endpoint '${name}' in 'nbtrailEndpoints': the JupyterLab ` +
        'extension and the server extension come from different nbtrail versions',
      0
    );
  }
  const takesId = route.includes('{id}');
  if (takesId !== (id !== undefined)) {
    throw new ApiError(
      takesId ? `endpoint '${name}' needs an id` : `endpoint '${name}' takes no id`,
      0
    );
  }
  return takesId ? route.split('{id}').join(encodeURIComponent(id as string)) : route;
}

export async function requestAPI<T>(
  route: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, apiNamespace(), route);
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
