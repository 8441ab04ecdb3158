using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Kestrel limits of the nodes and the router against abusive clients, tighter than Kestrel's
/// defaults where those are loose. A value set in configuration (<c>Kestrel:Limits:*</c>) wins.
/// </summary>
public static class ServerLimits
{
    /// <summary>Time a client has to send its request headers (Kestrel's default: 30 s). A slow-loris client is cut off after it.</summary>
    public static readonly TimeSpan RequestHeadersTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Open connections per process (Kestrel's default: unlimited). Above it new connections are refused at once.</summary>
    public const long MaxConcurrentConnections = 50_000;

    /// <summary>Applies <see cref="RequestHeadersTimeout"/> and <see cref="MaxConcurrentConnections"/> unless configuration sets them.</summary>
    /// <param name="builder">The node's or router's builder.</param>
    public static WebApplicationBuilder UseServerLimits(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var section = builder.Configuration.GetSection("Kestrel:Limits");
        builder.WebHost.ConfigureKestrel(options =>
        {
            if (section[nameof(RequestHeadersTimeout)] is null)
            {
                options.Limits.RequestHeadersTimeout = RequestHeadersTimeout;
            }

            if (section[nameof(MaxConcurrentConnections)] is null)
            {
                options.Limits.MaxConcurrentConnections = MaxConcurrentConnections;
            }
        });
        return builder;
    }
}
