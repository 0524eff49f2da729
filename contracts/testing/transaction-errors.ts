/**
 * TEST FIXTURE: turns LiteSVM's transaction errors (numbers for fieldless errors, small classes
 * otherwise) into the JSON a validator's RPC reports (`"BlockhashNotFound"`,
 * `{ "InstructionError": [0, { "Custom": 1 }] }`), typed as kit's `TransactionError`.
 */
import type { TransactionError } from "@solana/kit";
import type { FailedTransactionMetadata } from "litesvm";

// Solana's enum orders (solana-transaction-error), which LiteSVM's numbers follow.
const TRANSACTION_ERRORS = [
  "AccountInUse",
  "AccountLoadedTwice",
  "AccountNotFound",
  "ProgramAccountNotFound",
  "InsufficientFundsForFee",
  "InvalidAccountForFee",
  "AlreadyProcessed",
  "BlockhashNotFound",
  "CallChainTooDeep",
  "MissingSignatureForFee",
  "InvalidAccountIndex",
  "SignatureFailure",
  "InvalidProgramForExecution",
  "SanitizeFailure",
  "ClusterMaintenance",
  "AccountBorrowOutstanding",
  "WouldExceedMaxBlockCostLimit",
  "UnsupportedVersion",
  "InvalidWritableAccount",
  "WouldExceedMaxAccountCostLimit",
  "WouldExceedAccountDataBlockLimit",
  "TooManyAccountLocks",
  "AddressLookupTableNotFound",
  "InvalidAddressLookupTableOwner",
  "InvalidAddressLookupTableData",
  "InvalidAddressLookupTableIndex",
  "InvalidRentPayingAccount",
  "WouldExceedMaxVoteCostLimit",
  "WouldExceedAccountDataTotalLimit",
  "MaxLoadedAccountsDataSizeExceeded",
  "ResanitizationNeeded",
  "InvalidLoadedAccountsDataSizeLimit",
  "UnbalancedTransaction",
  "ProgramCacheHitMaxLimit",
  "CommitCancelled",
];

const INSTRUCTION_ERRORS = [
  "GenericError",
  "InvalidArgument",
  "InvalidInstructionData",
  "InvalidAccountData",
  "AccountDataTooSmall",
  "InsufficientFunds",
  "IncorrectProgramId",
  "MissingRequiredSignature",
  "AccountAlreadyInitialized",
  "UninitializedAccount",
  "UnbalancedInstruction",
  "ModifiedProgramId",
  "ExternalAccountLamportSpend",
  "ExternalAccountDataModified",
  "ReadonlyLamportChange",
  "ReadonlyDataModified",
  "DuplicateAccountIndex",
  "ExecutableModified",
  "RentEpochModified",
  "NotEnoughAccountKeys",
  "AccountDataSizeChanged",
  "AccountNotExecutable",
  "AccountBorrowFailed",
  "AccountBorrowOutstanding",
  "DuplicateAccountOutOfSync",
  "InvalidError",
  "ExecutableDataModified",
  "ExecutableLamportChange",
  "ExecutableAccountNotRentExempt",
  "UnsupportedProgramId",
  "CallDepth",
  "MissingAccount",
  "ReentrancyNotAllowed",
  "MaxSeedLengthExceeded",
  "InvalidSeeds",
  "InvalidRealloc",
  "ComputationalBudgetExceeded",
  "PrivilegeEscalation",
  "ProgramEnvironmentSetupFailure",
  "ProgramFailedToComplete",
  "ProgramFailedToCompile",
  "Immutable",
  "IncorrectAuthority",
  "AccountNotRentExempt",
  "InvalidAccountOwner",
  "ArithmeticOverflow",
  "UnsupportedSysvar",
  "IllegalOwner",
  "MaxAccountsDataAllocationsExceeded",
  "MaxAccountsExceeded",
  "MaxInstructionTraceLengthExceeded",
  "BuiltinProgramsMustConsumeComputeUnits",
  "BorshIoError",
];

type LiteSvmError = ReturnType<FailedTransactionMetadata["err"]>;

export function transactionError(err: LiteSvmError): TransactionError {
  if (typeof err === "number")
    return (TRANSACTION_ERRORS[err] ?? "InvalidError") as TransactionError;
  switch (err.constructor.name) {
    case "TransactionErrorInstructionError": {
      const { index } = err as { index: number };
      const inner = (err as { err(): unknown }).err();
      const instruction =
        typeof inner === "number"
          ? (INSTRUCTION_ERRORS[inner] ?? "GenericError")
          : inner && typeof inner === "object" && "code" in inner
            ? { Custom: Number((inner as { code: number }).code) }
            : "BorshIoError";
      return { InstructionError: [index, instruction] } as TransactionError;
    }
    case "TransactionErrorDuplicateInstruction":
      return { DuplicateInstruction: (err as { index: number }).index };
    case "TransactionErrorProgramExecutionTemporarilyRestricted":
      return {
        ProgramExecutionTemporarilyRestricted: {
          account_index: (err as { accountIndex: number }).accountIndex,
        },
      };
    default:
      return {
        InsufficientFundsForRent: { account_index: (err as { accountIndex: number }).accountIndex },
      };
  }
}
