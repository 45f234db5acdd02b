import type { Route } from '../router.ts';
import { alertRoutes } from './alerts.ts';
import { authRoutes } from './auth.ts';
import { connectionRoutes } from './connections.ts';
import { eventRoutes } from './events.ts';
import { fileRoutes } from './files.ts';
import { groupRoutes } from './groups.ts';
import { intelRoutes } from './intels.ts';
import { scanRoutes } from './scans.ts';
import { taskRoutes } from './tasks.ts';

/** Every Tanium route the emulator serves (tanium-api.md 3.1). */
export const routes: Route[] = [
  ...authRoutes,
  ...connectionRoutes,
  ...taskRoutes,
  ...eventRoutes,
  ...fileRoutes,
  ...intelRoutes,
  ...groupRoutes,
  ...scanRoutes,
  ...alertRoutes,
];
