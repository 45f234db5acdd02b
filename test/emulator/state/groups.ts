export interface ComputerGroup {
  id: number;
  name: string;
  text: string;
  management_rights_flag: boolean;
  deleted_flag: boolean;
  content_set: { id: number; name: string };
}

function group(id: number, name: string, text: string, managementRights = true): ComputerGroup {
  return {
    id,
    name,
    text,
    management_rights_flag: managementRights,
    deleted_flag: false,
    content_set: { id: 0, name: '' },
  };
}

/** Includes an all-digit name that is not its id, a non-management group and names with URL-special characters. */
export function seedGroups(): ComputerGroup[] {
  return [
    group(1, 'All Computers', 'All machines'),
    group(2, 'Default', 'Default computer group'),
    group(34, 'All Windows', 'Is Windows equals true'),
    group(35, 'All Linux', 'Is Linux equals true'),
    group(57, '1234', 'Computer Name starts with lab-'),
    group(58, 'Servers / Linux', 'Is Linux equals true and Computer Name contains srv'),
    group(59, 'Who? Me', 'Computer Name equals who'),
    group(60, 'Team #1', 'Computer Name starts with team1-'),
    group(61, 'Finance & HR 100%', 'Department equals Finance'),
    group(62, 'Ünïcödé Group', 'Computer Name contains uni'),
    group(99, 'Legacy Filter', 'Operating System contains XP', false),
  ];
}
