import { Controller, Get, Inject, NotFoundException, Param, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public } from '../common/index.js';
import { type PortalAsset, PortalAssets } from './portal-assets.js';

/** The developer portal's page and its assets, all served by this service (no CDN, no framework download). */
@ApiExcludeController()
@Public()
@Controller('portal')
export class PortalPageController {
  constructor(@Inject(PortalAssets) private readonly assets: PortalAssets) {}

  /** `/portal` and `/portal/`; the page itself decides what to show (sign-in or dashboard). */
  @Get()
  page(@Req() request: Request, @Res() response: Response): void {
    this.send(request, response, this.assets.get('index.html'));
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Req() request: Request, @Res() response: Response): void {
    const asset = this.assets.get(file);
    if (!asset) throw new NotFoundException({ error: 'not_found', message: `No portal asset ${file}.` });
    this.send(request, response, asset);
  }

  private send(request: Request, response: Response, asset: PortalAsset | undefined): void {
    if (!asset) throw new NotFoundException({ error: 'not_found', message: 'The portal page is missing from this build.' });
    // Revalidate every time (cheap 304s): a deploy shows up on the next load, never a stale mix of files.
    response.setHeader('Cache-Control', 'no-cache');
    response.setHeader('ETag', asset.etag);
    if (request.headers['if-none-match'] === asset.etag) {
      response.status(304).end();
      return;
    }
    response.setHeader('Content-Type', asset.contentType);
    response.status(200).send(asset.body);
  }
}
