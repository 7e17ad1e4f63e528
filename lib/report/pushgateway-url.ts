import { DrillError } from '../errors.ts';

// The Pushgateway URL as a setting: checked when the configuration is read, before anything starts.
// Its own file so that reading the configuration loads no prom-client (the push itself, in
// pushgateway.ts, is loaded only by a run that pushes).

export const PUSHGATEWAY_URL_SETTING = '--pushgateway / DRILL_PUSHGATEWAY_URL';

export class InvalidPushgatewayUrlError extends DrillError {
  static override readonly code = 'DRILL_PUSHGATEWAY_URL_INVALID';
  readonly setting = PUSHGATEWAY_URL_SETTING;
  readonly value: string;

  constructor(value: string, problem: string, cause?: unknown) {
    const shown = redactUrl(value);
    super(
      `${PUSHGATEWAY_URL_SETTING}: "${shown}" ${problem}; expected an http:// or https:// URL of the ` +
        'Pushgateway without query or fragment, e.g. http://pushgateway.monitoring:9091',
      { cause },
    );
    this.value = shown;
  }
}

/** Replaces any userinfo with *** so URLs can go into messages and logs; the rest stays as typed. */
export function redactUrl(url: string | URL): string {
  return String(url).replace(/^([^:/?#]+:\/\/)[^/?#]*@/, '$1***@');
}

/** Checks the configured Pushgateway URL; call it at startup so a typo fails before the drill runs. */
export function parsePushgatewayUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    throw new InvalidPushgatewayUrlError(value, 'is not a valid URL', error);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidPushgatewayUrlError(value, `has scheme "${url.protocol.slice(0, -1)}"`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new InvalidPushgatewayUrlError(value, 'has a query or fragment');
  }
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch (error) {
    throw new InvalidPushgatewayUrlError(value, 'has badly percent-encoded credentials', error);
  }
  return url;
}
