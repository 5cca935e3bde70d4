import type { SendMailOptions } from 'nodemailer';
import { loadOptionalPeer } from './optional-peer.js';

/** What Tollgate needs of a mail transport: nodemailer's, created only when SMTP is configured. */
export interface MailTransport {
  sendMail(message: SendMailOptions): Promise<unknown>;
  close(): void;
}

/** An SMTP transport for `smtpUrl`; nodemailer (an optional peer) is loaded here, not before. */
export async function createSmtpTransport(smtpUrl: string): Promise<MailTransport> {
  const nodemailer = await loadOptionalPeer('nodemailer', 'email over SMTP (the smtpUrl option, SMTP_URL)', () => import('nodemailer'));
  return nodemailer.default.createTransport(smtpUrl);
}
