FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# Not pruned: the service's runtime packages (Nest, TypeORM, drivers) are the library's peer dependencies,
# which the repository keeps in devDependencies.
RUN npm run build
ENV NODE_ENV=production PORT=3000
EXPOSE 3000
CMD ["node", "dist/src/main.js"]
