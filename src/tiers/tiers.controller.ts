import { Controller, Get, Inject } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../common/index.js';
import { RatePolicyDto, TierCatalogDto, TierMeterDto, TierPriceDto } from './tiers.dto.js';
import { TiersService } from './tiers.service.js';

@ApiTags('tiers')
@ApiExtraModels(TierPriceDto, TierMeterDto, RatePolicyDto)
@Public()
@Controller('v1/tiers')
export class TiersController {
  constructor(@Inject(TiersService) private readonly tiers: TiersService) {}

  @Get()
  @ApiOperation({ summary: 'The tier catalog, parsed from tiers.yaml (counts and limits as numbers, money as exact decimal strings)' })
  @ApiOkResponse({ type: TierCatalogDto, description: 'tiers in ascending order, and the meters they bill' })
  list() {
    const { tiers, meters, upgradeUrl } = this.tiers.catalog;
    return { tiers, meters, upgradeUrl };
  }
}
