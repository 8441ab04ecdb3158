using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// TLS between AspireCache's own processes (router → nodes, node → node) with a private CA: set
/// <c>Tls:CaCertificatePath</c> to the CA certificate (PEM) and every HttpClient of the process, and
/// the router's proxy, accept server certificates issued by it (chain built on that root alone, host
/// name checked as usual). Certificates the machine already trusts keep working. The servers' own
/// certificates are plain Kestrel configuration (<c>Kestrel:Certificates:Default:Path</c>/<c>KeyPath</c>
/// and <c>https://</c> URLs). Nothing is set without the option: plain HTTP, as under F5.
/// </summary>
public static class TlsTrust
{
    public const string CaCertificatePathKey = "Tls:CaCertificatePath";

    /// <summary>Registers <see cref="PrivateCaValidator"/> (when configured) and applies it to every HttpClient.</summary>
    /// <param name="builder">A node's or the router's builder.</param>
    public static TBuilder AddTlsTrust<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (builder.Configuration[CaCertificatePathKey] is not { Length: > 0 } path)
        {
            return builder;
        }

        var validator = new PrivateCaValidator(X509Certificate2.CreateFromPem(File.ReadAllText(path)));
        builder.Services.AddSingleton(validator);
        builder.Services.ConfigureHttpClientDefaults(client => client.ConfigurePrimaryHttpMessageHandler((handler, _) => validator.Apply(handler)));
        return builder;
    }
}

/// <summary>Accepts server certificates that chain to one private root (or that the machine trusts).</summary>
public sealed class PrivateCaValidator(X509Certificate2 root)
{
    public X509Certificate2 Root { get; } = root;

    /// <summary>Installs <see cref="Validate"/> on a <see cref="SocketsHttpHandler"/> or <see cref="HttpClientHandler"/>.</summary>
    public void Apply(HttpMessageHandler handler)
    {
        switch (handler)
        {
            case SocketsHttpHandler sockets:
                sockets.SslOptions.RemoteCertificateValidationCallback = Validate;
                break;
            case HttpClientHandler client:
                client.ServerCertificateCustomValidationCallback = (_, certificate, chain, errors) => Validate(null!, certificate, chain, errors);
                break;
        }
    }

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        // Only an untrusted chain is ours to judge; a wrong host name or a missing certificate is not.
        if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is null)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.Add(Root);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return custom.Build(certificate as X509Certificate2 ?? new X509Certificate2(certificate));
    }
}
