// Creates a container holding one blob of BYTES bytes in Azurite (well-known development
// account) and prints a read SAS URL for it. Usage: node azurite_blob.js <blob endpoint> <bytes>
const { BlobServiceClient, StorageSharedKeyCredential, generateBlobSASQueryParameters,
  BlobSASPermissions } = require("@azure/storage-blob");

const ACCOUNT = "devstoreaccount1";
// Azurite's published development key (not a secret).
const KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

async function main() {
  const [endpoint, bytes] = process.argv.slice(2);
  const cred = new StorageSharedKeyCredential(ACCOUNT, KEY);
  const service = new BlobServiceClient(endpoint, cred);
  const container = service.getContainerClient("bench");
  await container.createIfNotExists();
  const blob = container.getBlockBlobClient("data");
  await blob.upload(Buffer.alloc(Number(bytes), 0x71), Number(bytes));
  const sas = generateBlobSASQueryParameters({
    containerName: "bench", blobName: "data", permissions: BlobSASPermissions.parse("r"),
    expiresOn: new Date(Date.now() + 3600 * 1000),
  }, cred).toString();
  console.log(`${blob.url}?${sas}`);
}

main().catch((e) => { console.error(e.message); process.exit(1); });
