import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { createSmtpTransport, type MailTransport } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { LOGIN_LINK_TTL_SECONDS } from './portal-sessions.service.js';

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? char);

/**
 * Sends the portal's sign-in links over the same SMTP settings as notification emails (`SMTP_URL`,
 * `EMAIL_FROM`). Without SMTP nothing is sent: in demo mode the link is logged so a local try-out works,
 * otherwise only the fact is logged (a sign-in link is a credential).
 */
@Injectable()
export class PortalMailer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Portal');
  private transport: MailTransport | null = null;

  constructor(@Inject(TollgateConfig) private readonly config: TollgateConfig) {}

  async onApplicationBootstrap(): Promise<void> {
    // nodemailer is an optional peer: loaded only when SMTP is configured.
    if (this.config.smtpUrl) this.transport = await createSmtpTransport(this.config.smtpUrl);
  }

  async sendSignInLink(to: string, accountName: string, link: string): Promise<void> {
    const minutes = LOGIN_LINK_TTL_SECONDS / 60;
    if (!this.transport) {
      if (this.config.demo) this.logger.log(`portal sign-in link for "${accountName}" (SMTP_URL unset, not emailed): ${link}`);
      else this.logger.warn(`portal sign-in link for "${accountName}" not emailed: SMTP_URL is unset`);
      return;
    }
    const text = [
      `Hello,`,
      '',
      `Someone (hopefully you) asked to sign in to the developer portal for the account "${accountName}".`,
      '',
      `Sign in: ${link}`,
      '',
      `The link works once, within ${minutes} minutes. If you did not ask for it, ignore this email: nothing changes.`,
      '',
      '— Tollgate',
    ].join('\n');
    const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#1f2937;line-height:1.5">
<p>Someone (hopefully you) asked to sign in to the developer portal for the account <strong>${escapeHtml(accountName)}</strong>.</p>
<p><a href="${escapeHtml(link)}" style="display:inline-block;background:#3730a3;color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none">Sign in to the portal</a></p>
<p>The link works once, within ${minutes} minutes. If you did not ask for it, ignore this email: nothing changes.</p>
<p style="color:#4b5563">— Tollgate</p></body></html>`;
    await this.transport.sendMail({ from: this.config.emailFrom, to, subject: 'Your sign-in link for the developer portal', text, html });
  }

  beforeApplicationShutdown(): void {
    this.transport?.close();
  }
}
