/**
 * Turns a Tanium error body into the short, safe text used in messages (tanium-api.md 1.7): the
 * server's own words where it has them, visible text of HTML pages, never a credential.
 */

import { MIN_SECRET_LENGTH } from '../config/credentials.ts';
import { isRecord } from '../config/is-record.ts';
import { jsonOr } from '../config/json-or.ts';
import { cutTo, wholeCharacters } from '../config/message-text.ts';
import { NAMED_ENTITIES, stripMarkup } from './html-text.ts';
import { secretOccurrences } from './secret-forms.ts';

const MAX_TEXT = 1000;
const MAX_HTML_TEXT = 300;

export function looksLikeHtml(text: string, contentType = ''): boolean {
  if (contentType.includes('html')) return true;
  const start = text.trimStart().slice(0, 15).toLowerCase();
  return start.startsWith('<!doctype html') || start.startsWith('<html');
}

/**
 * In one pass, so `&amp;#34;` stays the text `&#34;` rather than becoming a quote. NUL, a number past
 * Unicode and a surrogate left unpaired become U+FFFD, as HTML parsers make them: a lone surrogate would
 * reach messages and events as broken UTF-16. Unlike HTML, two references that make a surrogate pair
 * (what encoders working on UTF-16 units write) give their character, so a secret echoed so is still
 * found and redacted.
 */
function decodeEntities(text: string): string {
  return text
    .replace(/&(?:#(\d{1,7})|#x([0-9a-f]{1,6})|([a-z]+));/gi, (entity, decimal, hex, name) => {
      if (name !== undefined) return NAMED_ENTITIES.get(name) ?? entity;
      const code = decimal !== undefined ? Number.parseInt(decimal, 10) : Number.parseInt(hex, 16);
      return code === 0 || code > 0x10ffff ? '\uFFFD' : String.fromCodePoint(code);
    })
    .replace(/\p{Cs}/gu, '\uFFFD');
}

/**
 * Visible text of an HTML page: tags, scripts and styles removed, entities decoded, whitespace
 * collapsed, the first 300 characters. Secrets go before the cut: a cut one would no longer match. They
 * go both before the whitespace is collapsed (a secret with two spaces in a row) and after, in their
 * collapsed form too (a password whose space the page wrote as a line break).
 */
export function htmlToText(html: string, secrets: readonly string[] = []): string {
  const text = withoutSecrets(decodeEntities(stripMarkup(html)), secrets)
    .replace(/\s+/g, ' ')
    .trim();
  const collapsed = secrets.map((secret) => secret.replace(/\s+/g, ' '));
  return wholeCharacters(withoutSecrets(text, [...secrets, ...collapsed]), MAX_HTML_TEXT);
}

const hasText = (text: string) => text.trim() !== '';
const MAX_ENTRY_DEPTH = 3;

/** An error entry's text; '' when it has none (null, `{}`, blank text fields), so it is passed over. */
function itemText(item: unknown, depth = 0): string {
  if (typeof item === 'string') return item;
  if (item === null || item === undefined) return '';
  // Lists in the list are read a few levels down; deeper, an entry is shown as JSON (or marked, if too
  // deep for that), which also bounds the recursion on a body nested thousands deep.
  if (Array.isArray(item) && depth < MAX_ENTRY_DEPTH) {
    return item
      .map((inner) => itemText(inner, depth + 1))
      .filter(hasText)
      .join('; ');
  }
  if (isRecord(item)) {
    const fields = ['message', 'text', 'description'].map((key) => item[key]);
    const texts = fields.filter((value): value is string => typeof value === 'string');
    if (texts.length > 0) return texts.find(hasText) ?? '';
    if (Object.keys(item).length === 0) return '';
  }
  return jsonOr(item, '(an error entry nested too deep to show)');
}

/** The text Tanium put in an error body, in the order of preference of the contract. */
export function errorBodyText(body: string, contentType: string, secrets: readonly string[] = []): string {
  if (body.trim() === '') return 'Empty response';
  if (looksLikeHtml(body, contentType)) return htmlToText(body, secrets) || 'Empty response';
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return body.trim();
  }
  if (isRecord(parsed)) {
    const record = parsed;
    // An empty field is passed over: servers send `"errors": []` or `"text": ""` beside a `message`,
    // and the result would otherwise end with nothing after "Data from server:".
    const candidates = [
      typeof record.text === 'string' ? record.text : '',
      Array.isArray(record.errors)
        ? record.errors
            .map((entry) => itemText(entry))
            .filter(hasText)
            .join('; ')
        : '',
      typeof record.message === 'string' ? record.message : '',
    ];
    const text = candidates.find(hasText);
    if (text !== undefined) return text;
  }
  if (typeof parsed === 'string') return parsed;
  return jsonOr(parsed, body.trim());
}

/**
 * Every occurrence of every secret, in each of its forms, replaced with `[redacted]`; the text is not cut.
 * Occurrences are masked as character ranges merged before replacing: replacing one form after another
 * would leave the rest of an overlapping occurrence, or the outside of a secret holding another.
 */
function withoutSecrets(text: string, secrets: readonly string[]): string {
  const redactable = secrets.filter((secret) => secret.length >= MIN_SECRET_LENGTH);
  let out = '';
  let copied = 0;
  for (const [start, end] of secretOccurrences(text, redactable).sort((a, b) => a[0] - b[0])) {
    // An occurrence overlapping the last one masked widens that mask instead of starting another.
    if (start >= copied) out += `${text.slice(copied, start)}[redacted]`;
    copied = Math.max(copied, end);
  }
  return out + text.slice(copied);
}

/** Replaces every secret with `[redacted]` and caps the length at 1000 characters, the ellipsis included. */
export function redact(text: string, secrets: readonly string[]): string {
  return cutTo(withoutSecrets(text, secrets), MAX_TEXT);
}

/**
 * The text of an error body for a message (1.7), without secrets: removed from the whole body before the
 * text is extracted (markup can split a secret that is whole in the body), and from the extracted text
 * before it is cut, where decoding HTML entities or JSON escapes wrote one out as is.
 */
export function errorText(body: string, contentType: string, secrets: readonly string[]): string {
  // A JSON body's escapes can hold what decodeEntities keeps out of HTML: a lone surrogate or NUL would
  // reach messages, logs and events as broken text.
  return redact(errorBodyText(withoutSecrets(body, secrets), contentType, secrets), secrets).replace(
    /\p{Cs}|\0/gu,
    '\uFFFD',
  );
}
