import { SetMetadata } from '@nestjs/common';

export const PUBLIC_ROUTE = 'tollgate:public';

/** Opens a route (or controller) to callers without an API key when Tollgate's guards are global. */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);
