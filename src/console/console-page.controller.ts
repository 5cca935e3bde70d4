import { Controller, Get, Inject, Param, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public, sendPageAsset } from '../common/index.js';
import { ConsoleAssets } from './console-assets.js';

/** The operator console's page and assets, all served by this service (no CDN). */
@ApiExcludeController()
@Public()
@Controller('console')
export class ConsolePageController {
  constructor(@Inject(ConsoleAssets) private readonly assets: ConsoleAssets) {}

  @Get()
  page(@Req() request: Request, @Res() response: Response): void {
    sendPageAsset(request, response, this.assets.get('index.html'), 'No such console asset.');
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Req() request: Request, @Res() response: Response): void {
    sendPageAsset(request, response, this.assets.get(file), 'No such console asset.');
  }
}
