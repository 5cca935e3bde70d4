import { Controller, Get, Inject, NotFoundException, Param, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public } from '../common/index.js';
import { type ConsoleAsset, ConsoleAssets } from './console-assets.js';

/** The operator console's page and assets, all served by this service (no CDN). */
@ApiExcludeController()
@Public()
@Controller('console')
export class ConsolePageController {
  constructor(@Inject(ConsoleAssets) private readonly assets: ConsoleAssets) {}

  @Get()
  page(@Req() request: Request, @Res() response: Response): void {
    this.send(request, response, this.assets.get('index.html'));
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Req() request: Request, @Res() response: Response): void {
    this.send(request, response, this.assets.get(file));
  }

  private send(request: Request, response: Response, asset: ConsoleAsset | undefined): void {
    if (!asset) throw new NotFoundException({ error: 'not_found', message: 'No such console asset.' });
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
