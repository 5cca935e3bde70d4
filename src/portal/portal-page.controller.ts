import { Controller, Get, Inject, Param, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public, sendPageAsset } from '../common/index.js';
import { PortalAssets } from './portal-assets.js';

/** The developer portal's page and its assets, all served by this service (no CDN, no framework download). */
@ApiExcludeController()
@Public()
@Controller('portal')
export class PortalPageController {
  constructor(@Inject(PortalAssets) private readonly assets: PortalAssets) {}

  /** `/portal` and `/portal/`; the page itself decides what to show (sign-in or dashboard). */
  /** `/portal` and `/portal/`; the page itself decides what to show (sign-in or dashboard). */
  @Get()
  page(@Req() request: Request, @Res() response: Response): void {
    sendPageAsset(request, response, this.assets.get('index.html'), 'The portal page is missing from this build.');
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Req() request: Request, @Res() response: Response): void {
    sendPageAsset(request, response, this.assets.get(file), `No portal asset ${file}.`);
  }
}
