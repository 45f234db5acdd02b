/**
 * One example request per action, run against the bundled emulator to produce the README's action
 * reference (`npm run docs`). A test runs them again and fails when the README no longer matches the
 * code, so the docs cannot drift from the action table.
 */
export const ACTION_EXAMPLES: Record<string, Record<string, string | number>> = {
  test_connectivity: {},
  list_connections: {},
  create_connection: { destination: 'test-client-1', destination_type: 'hostname', wait_seconds: 10 },
  get_endpoint: { destination: '10.0.0.5', destination_type: 'ip_address' },
  close_connection: { connection_id: 'remote:test-client-1:2029399999:1' },
  delete_connection: { connection_id: 'remote:test-client-1:2029399999:1' },
  create_snapshot: { connection_id: 'remote:test-client-1:2029399999:1' },
  list_snapshots: { limit: 10, sort: '-created' },
  delete_snapshot: { snapshot_ids: '59998498-1248-4a5a-a97e-e905c9279999' },
  get_process: { connection_id: 'remote:test-client-1:2029399999:1', process_table_id: '72057594038528503' },
  get_process_tree: {
    connection_id: 'remote:test-client-1:2029399999:1',
    process_table_id: '72057594038528503',
    process_context: 'parent,node',
  },
  get_events: {
    connection_id: 'remote:test-client-1:2029399999:1',
    event_type: 'network',
    limit: 2,
    sort: '-timestamp',
    fields: 'remote_address',
    operators: 'eq',
    values: '203.0.113.7',
  },
  get_events_summary: { connection_id: 'remote:test-client-1:2029399999:1', event_type: 'dns' },
  list_files: { limit: 10 },
  save_file: { connection_id: 'remote:test-client-1:2029399999:1', file_path: 'C:\\Users\\bob\\evil.exe' },
  delete_file: { file_id: '79478f3e-061b-4b59-a99a-349415df99a0' },
  get_file: { file_id: '79478f3e-061b-4b59-a99a-349415df99a0' },
  upload_intel_doc: {
    file_name: 'example.yara',
    intel_doc: 'rule ExampleRule { strings: $a = "text here" condition: $a }',
  },
  start_quick_scan: { intel_doc_id: 11, computer_group_name: 'All Windows' },
  list_alerts: { query: 'state=unresolved&priority=high', limit: 5 },
};
