require ["include"];
include :global "global-spam";
