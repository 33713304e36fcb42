/** Certificate queries and mutations. Thin: arguments in, service call, mapper out. */
import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { cdnError } from '../../core/errors';
import { requireAccess } from './access';
import { toGraphqlCertificate } from './certificate.mapper';
import { Certificate } from './certificate.type';
import type { ApiContext } from './context.type';
import { toGraphqlCustomer } from './customer.mapper';
import type { Customer } from './customer.type';

/** The GraphQL customer a certificate belongs to; a miss is its deletion racing this request. */
async function customerOf(ctx: ApiContext, customerId: string): Promise<Customer> {
  const customer = await ctx.services.customers.get(customerId);
  if (!customer) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
  return toGraphqlCustomer(customer);
}

@Resolver(() => Certificate)
export class CertificateResolver {
  @Authorized('customer.read@customerId')
  @Query(() => [Certificate], { description: "A customer's certificates, newest first. NOT_FOUND for an unknown customer." })
  async certificates(@Ctx() ctx: ApiContext, @Arg('customerId', () => ID) customerId: string): Promise<Certificate[]> {
    const records = await ctx.services.certificates.list(customerId);
    const customer = await customerOf(ctx, customerId);
    return records.map((r) => toGraphqlCertificate(r, customer));
  }

  @Authorized('customer.update@customerId')
  @Mutation(() => Certificate, {
    description:
      "Stores a certificate and its private key for the customer's domains; every edge presents it within a second. " +
      'Checked first: the chain in order, the key matching the leaf (ECDSA P-256/P-384 or RSA 2048 to 8192 bits), valid now, ' +
      "DNS names only, each one of the customer's domains or a wildcard covering only its domains. Every refusal says why (BAD_USER_INPUT).",
  })
  async uploadCertificate(
    @Ctx() ctx: ApiContext,
    @Arg('customerId', () => ID) customerId: string,
    @Arg('certificatePem', { description: 'PEM: the leaf certificate first, then its intermediates (the root may be left out). At most 64 KiB, 10 certificates.' })
    certificatePem: string,
    @Arg('privateKeyPem', { description: 'PEM, unencrypted (PKCS#8, or RSA/EC PRIVATE KEY). Stored encrypted; never returned, logged or kept in the audit log.' })
    privateKeyPem: string,
  ): Promise<Certificate> {
    // The service words its refusals for the caller: a customer-scoped one learns nothing of other customers.
    const caller = requireAccess(ctx, 'customer.update', customerId);
    const record = await ctx.services.certificates.upload(customerId, certificatePem, privateKeyPem, caller);
    return toGraphqlCertificate(record, await customerOf(ctx, customerId));
  }

  @Authorized('customer.update@customerId')
  @Mutation(() => Certificate, {
    description:
      "Asks the ACME CA (CDN_ACME_DIRECTORY_URL) for a certificate naming `domains`, each one of the customer's own domains " +
      '(no wildcards: HTTP-01 cannot prove them). Answers at once with the PENDING certificate; its status follows (certificateStatus): ' +
      'ISSUED once every edge has answered the challenge and the CA has signed, or FAILED with lastError, retried with a back-off. ' +
      'With CDN_ACME_AUTO (the default) every new domain gets one without asking.',
  })
  async requestCertificate(
    @Ctx() ctx: ApiContext,
    @Arg('customerId', () => ID) customerId: string,
    @Arg('domains', () => [String], { description: "The names the certificate is for: the customer's domains, at most 100." }) domains: string[],
  ): Promise<Certificate> {
    const caller = requireAccess(ctx, 'customer.update', customerId);
    const record = await ctx.services.acme.request(customerId, domains, caller);
    return toGraphqlCertificate(record, await customerOf(ctx, customerId));
  }

  @Authorized('customer.update')
  @Mutation(() => Boolean, { description: 'Deletes a certificate; the edges stop presenting it within a second. NOT_FOUND for an unknown id (or another customer\'s).' })
  async deleteCertificate(@Ctx() ctx: ApiContext, @Arg('id', () => ID) id: string): Promise<boolean> {
    await ctx.services.certificates.delete(id, requireAccess(ctx, 'customer.update'));
    return true;
  }
}
