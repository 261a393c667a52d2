/**
 * Sealtrail's permissions (docs/design.md "Permissions"): least privilege, so writers cannot read
 * and readers cannot write. Organization roles map to sets of them; API keys carry their own.
 */
export const PERMISSIONS = ["append", "read", "verify", "admin"] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** The better-auth access-control statement our permissions live under. */
export const LOG_STATEMENT = "log";

export const ROLES = ["owner", "admin", "auditor", "member"] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  owner: PERMISSIONS,
  admin: PERMISSIONS,
  auditor: ["read", "verify"],
  member: ["read"],
};

/**
 * better-auth stores a member's role as a comma-separated list; unknown names grant nothing
 * (`addMember` accepts any string, so a role we did not define must not widen access).
 */
export function permissionsOfRoles(roleField: string): Set<Permission> {
  const granted = new Set<Permission>();
  for (const name of roleField.split(",").map((r) => r.trim())) {
    if ((ROLES as readonly string[]).includes(name)) {
      for (const p of ROLE_PERMISSIONS[name as Role]) granted.add(p);
    }
  }
  return granted;
}
