import { ApiProperty } from '@nestjs/swagger';

export class EchoDto {
  @ApiProperty({ example: 'hello' })
  echo: string;

  @ApiProperty({ description: "The caller's tier", example: 'free' })
  tier: string;
}

export class SearchResultDto {
  @ApiProperty({ type: 'integer' })
  id: number;

  @ApiProperty()
  title: string;
}

export class SearchDto {
  @ApiProperty({ maxLength: 100, description: 'The query, cut to 100 characters' })
  query: string;

  @ApiProperty({ type: [SearchResultDto] })
  results: SearchResultDto[];
}

export class StatsDto {
  @ApiProperty()
  customerId: string;

  @ApiProperty({ type: 'integer' })
  uptimeSeconds: number;
}
