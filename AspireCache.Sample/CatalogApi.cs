using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Caching.Hybrid;

namespace AspireCache.Sample;

/// <summary>The catalog's HTTP API.</summary>
internal static class CatalogApi
{
    private static readonly HybridCacheEntryOptions ProductEntry = new()
    {
        Expiration = TimeSpan.FromMinutes(10),
        LocalCacheExpiration = TimeSpan.FromMinutes(10), // kept coherent by the watch, not by a short L1 expiry
    };

    public static IEndpointRouteBuilder MapCatalogApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/settings", GetSettings);
        var products = app.MapGroup("/products");
        products.MapGet("/", ListProducts);
        products.MapGet("/{id:int}", GetProduct);
        products.MapPut("/{id:int}", PutProduct);
        return app;
    }

    /// <summary>The current options (live from the cache) and when they last changed.</summary>
    private static Ok<SettingsResponse> GetSettings(CatalogSettings settings)
    {
        var state = settings.State;
        return TypedResults.Ok(new SettingsResponse(state.Options.Greeting, state.Options.PageSize, settings.LoadedAt, state.ChangedAt, state.Changes));
    }

    /// <summary>One page of products, <c>Catalog:PageSize</c> per page.</summary>
    private static async Task<Ok<ProductPage>> ListProducts(CatalogSettings settings, HybridCache cache, ProductStore store, int page = 1, CancellationToken cancellationToken = default)
    {
        var options = settings.Current;
        var first = ((Math.Max(page, 1) - 1) * options.PageSize) + 1;
        var items = new List<Product>();
        for (var id = first; id < first + options.PageSize && id <= store.Count; id++)
        {
            if (await LookupAsync(cache, store, id, cancellationToken) is { } product)
            {
                items.Add(product);
            }
        }

        return TypedResults.Ok(new ProductPage(options.Greeting, page, options.PageSize, items));
    }

    /// <summary>A product, through HybridCache (L1, then the cluster, then the store).</summary>
    private static async Task<Results<Ok<ProductResponse>, NotFound>> GetProduct(int id, CatalogSettings settings, HybridCache cache, ProductStore store, CancellationToken cancellationToken)
    {
        var product = await LookupAsync(cache, store, id, cancellationToken);
        return product is null ? TypedResults.NotFound() : TypedResults.Ok(new ProductResponse(settings.Current.Greeting, product));
    }

    /// <summary>Updates a product: the store, then the cache (this instance's L1 and the cluster; other instances drop their L1 copy).</summary>
    private static async Task<Ok<Product>> PutProduct(int id, ProductUpdate update, HybridCache cache, ProductStore store, CancellationToken cancellationToken)
    {
        var product = new Product(id, update.Name, update.Price);
        store.Save(product);
        await cache.SetAsync(Key(id), product, ProductEntry, cancellationToken: cancellationToken);
        return TypedResults.Ok(product);
    }

    private static ValueTask<Product?> LookupAsync(HybridCache cache, ProductStore store, int id, CancellationToken cancellationToken) =>
        cache.GetOrCreateAsync(Key(id), (store, id), static (state, token) => state.store.FindAsync(state.id, token), ProductEntry, cancellationToken: cancellationToken);

    private static string Key(int id) => "product/" + id.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

internal sealed record SettingsResponse(string Greeting, int PageSize, DateTimeOffset LoadedAt, DateTimeOffset? ChangedAt, int Changes);

internal sealed record ProductResponse(string Greeting, Product Product);

internal sealed record ProductPage(string Greeting, int Page, int PageSize, IReadOnlyList<Product> Items);

internal sealed record ProductUpdate(string Name, decimal Price);
