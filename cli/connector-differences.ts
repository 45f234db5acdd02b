/**
 * What a playbook written for Splunk SOAR's connector sees differently in each action: the connector's
 * bugs this project fixes, the checks it adds and what it adds to a result. The action reference
 * (`npm run docs`) lists them under each action; the differences every action shares are in the
 * README's "Porting a playbook". Kept out of the action table so no function's bundle carries the text.
 * Markdown, one sentence or two per item; an action without its own differences has no entry.
 */
export const CONNECTOR_DIFFERENCES: Readonly<Record<string, readonly string[]>> = {
  test_connectivity: [
    "Succeeds with the message `Test Connectivity Passed`; the connector's was empty.",
    'Adds `summary.auth`: whether the API token (`token`) or a session (`session`) was used.',
  ],
  create_connection: [
    'Of several endpoints matching `destination`, connects to the most recently registered one; the connector took the first.',
    "A failed endpoint lookup keeps Tanium's text (`Get endpoint info for new connection failed. <message>`), and an endpoint not found is named; the connector said only `Get endpoint info for new connection failed`.",
    'Adds `wait_seconds` (0 to 900, default 0): waits for the connection to become active, and fails the result, keeping its data, if it does not; a wait adds `data.*.status` and `summary.connection_status`.',
  ],
  get_endpoint: [
    'An answer of an unexpected type fails with a readable message; the connector printed `dict_keys([...])`.',
    'Adds `summary.total_endpoints`.',
  ],
  close_connection: ["A failure keeps Tanium's text: `Close connection failed. <message>`."],
  delete_connection: [
    'A failure says `Delete connection failed. <message>`; the connector gave the bare HTTP error.',
  ],
  create_snapshot: ["Adds `summary.task_id`, the id of the snapshot's task."],
  delete_snapshot: [
    "Sends the ids in the caller's order, each once (in lower case); the connector lost the order.",
    "Refuses an item that is not a snapshot uuid, and an empty list with `Please provide at least one snapshot id in the 'snapshot_ids' parameter` (the connector's text was `Please provide valid inputs`).",
  ],
  get_process_tree: [
    'Checks the `process_context` values (`parent`, `node`, `siblings`, `children`) and keeps their order.',
  ],
  get_events: [
    'Returns at most `limit` rows; the connector also returned the extra row Tanium sends to say there are more (up to 1,001 items).',
    "Keeps the `sort` columns in the caller's order, their priority; the connector lost it.",
  ],
  get_events_summary: [
    'Checks `event_type`, and answers an empty body with `data` `[]` and a count of 0; the connector crashed.',
    "Adds `summary.more_data`, Tanium's `has_more`.",
  ],
  save_file: [
    "Returns Tanium's answer as `data` (`status`, `taskInfo`) and its task id as `summary.task_id`; the connector discarded the answer although its outputs declared those datapaths.",
  ],
  get_file: [
    "With the default `keep` (`extract`), stores every file in the archive, each under its own `vault_id`, with its extracted size; the connector kept only the first entry and recorded the zip's size.",
    'Streams the download into the S3 vault, bounded by `GET_FILE_MAX_BYTES`, instead of holding the zip in memory.',
    "Asks Tanium for the file's record only when the download names no file, and splits entry names on `/` as well as `\\`.",
    "An answer that is not an archive (Tanium's JSON, for one) fails with a message saying what came; the connector crashed.",
    'Adds `keep` (`extract`, `archive` or `both`), the item keys `bucket`, `key`, `is_archive` and `already_stored`, and `summary.vault_id` and `summary.total_files`. The items describe S3 objects, not SOAR vault entries (see "Porting a playbook").',
  ],
  upload_intel_doc: [
    'A document the vault cannot give fails the action before anything is sent; the connector swallowed vault errors and could post an empty or wrong body.',
    'Refuses `intel_doc` and `vault_id` together; the connector ignored `intel_doc` silently.',
    'Refuses a vault file that is empty or whose content does not match its `vault_id`.',
    'Sends the file name quoted, with an ASCII stand-in for other characters, and always also exact as `filename*`; the connector sent it unquoted.',
    'Adds `summary.intel_doc_id`.',
  ],
  start_quick_scan: [
    'A numeric `computer_group_name` is looked up by name only when no group has that id (404); the connector also fell back on a 403 or a server error.',
    "Group names are encoded in the URL (the connector's broke on `?`, `#` or `/`), and found groups are kept for 5 minutes.",
    'A group that does not exist fails as `not_found` with `No group exists with name <input>. ...`; the connector reported a by-name 404 as the raw HTTP error, and its own text had a long run of spaces.',
    'Adds `summary.scan_id` and `summary.computer_group_id`.',
  ],
  list_alerts: [
    'Parses `query` as a URL query: repeated keys are all sent, `+` and `%xx` are decoded, values stay text (`007` stays `007`) and text after a second `=` is kept; the connector kept the last of repeated keys and did none of this.',
    'The `limit` and `offset` parameters win over those keys in `query`; in the connector the query overrode them.',
    'Refuses white space around a key or value, a key with characters no filter name has (`amp;state`, a pasted URL), and escapes that are not UTF-8, naming the part. A well-formed key Tanium does not know is sent, and Tanium ignores it.',
    "Takes `md5` from the match's hashes; the connector put the file path there when `properties.md5` existed.",
    'Keeps an alert whose `details` cannot be parsed, with `details_error`; the connector failed the whole action.',
    'Sets `summary.total_alerts`, which the connector declared but never set.',
  ],
};
