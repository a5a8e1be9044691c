using Azure;
using Azure.Storage.Blobs;

namespace SqlitePool.Engine.Backup;

/// <summary>
/// A backup target in one Azure Blob Storage container: each object a block blob named by its key. A put is one upload
/// that replaces the blob whole (a reader sees the old content or the new, never part), and a completed upload is
/// durable in the service.
/// </summary>
public sealed class AzureBlobBackupTarget : IBackupTarget
{
    private readonly BlobContainerClient _container;
    private volatile bool _containerExists;

    /// <summary>A target over <paramref name="container"/> (created on first use when missing).</summary>
    public AzureBlobBackupTarget(BlobContainerClient container)
    {
        ArgumentNullException.ThrowIfNull(container);
        _container = container;
    }

    /// <summary>A target over container <paramref name="containerName"/> of the account <paramref name="connectionString"/> names.</summary>
    /// <remarks>A request that gets no answer fails after 30 s, and is retried twice within seconds: the shipper
    /// retries on its own, and an outage should show in its lag, not hide in one call.</remarks>
    public AzureBlobBackupTarget(string connectionString, string containerName)
        : this(new BlobContainerClient(connectionString, containerName, ShipperClientOptions()))
    {
    }

    private static BlobClientOptions ShipperClientOptions()
    {
        var options = new BlobClientOptions();
        options.Retry.MaxRetries = 2;
        options.Retry.Delay = TimeSpan.FromMilliseconds(200);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(2);
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(30);
        return options;
    }

    /// <summary>The container's address.</summary>
    public Uri Uri => _container.Uri;

    /// <inheritdoc/>
    public async Task PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        await EnsureContainerAsync().ConfigureAwait(false);
        await _container.GetBlobClient(key).UploadAsync(BinaryData.FromBytes(content), overwrite: true, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            var download = await _container.GetBlobClient(key).DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            return download.Value.Content.ToArray();
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return null;
        }
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var keys = new List<string>();
        try
        {
            await foreach (var blob in _container.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, prefix, cancellationToken).ConfigureAwait(false))
            {
                keys.Add(blob.Name);
            }
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // No container yet: nothing stored.
        }

        keys.Sort(StringComparer.Ordinal);
        return keys;
    }

    /// <inheritdoc/>
    public async Task DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            await _container.GetBlobClient(key).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // No container: nothing to delete.
        }
    }

    // Until one creation succeeded; concurrent ones are harmless (it is idempotent), a failed one is tried again.
    private async Task EnsureContainerAsync()
    {
        if (!_containerExists)
        {
            await _container.CreateIfNotExistsAsync().ConfigureAwait(false);
            _containerExists = true;
        }
    }
}
